package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/gqlerr/code"
	"github.com/taskapi/server/internal/ratelimit"
	"github.com/taskapi/server/internal/viewer"
)

// Close codes of a WebSocket connection, beyond gqlgen's own. graphql-ws
// clients reconnect after each of them but CloseTooManyConnections.
const (
	// CloseForbidden: connection_init without a valid token, or the token
	// expired while the socket was open. The client reconnects, sending
	// its connectionParams (with a fresh token) again.
	CloseForbidden = 4403
	// CloseTooManyConnections: the user already has MaxConnectionsPerUser
	// sockets open here. Fatal to graphql-ws clients, so they do not storm.
	CloseTooManyConnections = 4429
	// CloseInitTimeout (graphql-transport-ws's code for an init timeout):
	// the socket was the oldest of too many from its address still
	// waiting to send connection_init.
	CloseInitTimeout = 4408
	// CloseGoingAway: the server is shutting down; reconnect (to another
	// instance).
	CloseGoingAway = 1001
	// CloseTryAgainLater: events cannot be delivered for now (the broker
	// between instances is down), or the client's address has spent its
	// budget of refused connection_inits; reconnect, after a while.
	CloseTryAgainLater = 1013
)

// WebSocket bounds, beside Limits.
const (
	// MaxConnectionsPerUser bounds one user's open sockets on an instance:
	// a few tabs and devices, not a leak.
	MaxConnectionsPerUser = 20
	// MaxSubscriptionsPerConnection bounds the subscriptions one socket
	// runs at once.
	MaxSubscriptionsPerConnection = 10
	// MaxOperationsPerConnection bounds the queries and mutations one
	// socket runs at once.
	MaxOperationsPerConnection = 10
	// pingInterval is how often the server pings (graphql-transport-ws); a
	// client that does not answer within twice this is dropped.
	pingInterval = 25 * time.Second
	// initTimeout is how long a socket may stay open without connection_init.
	initTimeout = 10 * time.Second
	// MaxPendingPerAddress bounds the sockets one client address (an IPv6
	// /64) holds open without an accepted connection_init on an instance,
	// closing ones included: past it the oldest is closed. A client sends
	// one at once, so even a large NAT has few at a time; a script opening
	// sockets that send nothing, or a bad token, holds at most this many.
	MaxPendingPerAddress = 32
)

// wsConn is one socket's own state, made before gqlgen accepts it, so that
// its close code and counts outlive gqlgen's view of it.
type wsConn struct {
	closeCode atomic.Int32 // replaces gqlgen's 1000 when set
	reason    atomic.Pointer[string]
	cancel    context.CancelFunc // ends the connection (gqlgen closes the socket)
	subs      atomic.Int32
	ops       atomic.Int32
	user      string
	expiry    *time.Timer
	stop      func() bool // stops watching for shutdown
	socket    atomic.Pointer[socket]
	addr      netip.Addr // the client's, for its budget of refused inits
	// initialised releases the socket's place among its address's pending
	// ones; once.
	initialised func()
}

type wsConnKey struct{}

func wsConnFrom(ctx context.Context) *wsConn {
	c, _ := ctx.Value(wsConnKey{}).(*wsConn)
	return c
}

// end closes the connection with code and reason, dropping it if it has
// not closed within closeGrace (a client that stopped reading holds up
// gqlgen's own close).
func (c *wsConn) end(code int, reason string) {
	c.closeCode.CompareAndSwap(0, int32(code))
	c.reason.CompareAndSwap(nil, &reason)
	if c.cancel != nil {
		c.cancel()
	}
	if s := c.socket.Load(); s != nil {
		time.AfterFunc(closeGrace, func() { _ = s.conn.CloseNow() })
	}
}

// webSockets is the graphql-transport-ws transport and the per-user count
// of its connections.
type webSockets struct {
	auth     auth.Authenticator
	logger   *slog.Logger
	origins  []string
	lim      Limits
	shutdown context.Context
	guard    addrGuard

	mu    sync.Mutex
	users map[string]int
	// pending counts each client address's sockets that have not sent
	// connection_init yet (by ratelimit.AddrKey: an IPv6 /64 is one).
	pending map[string][]*wsConn // oldest first
}

func newWebSockets(a auth.Authenticator, logger *slog.Logger, origins []string, lim Limits, shutdown context.Context) *webSockets {
	if shutdown == nil {
		shutdown = context.Background()
	}
	return &webSockets{auth: a, logger: logger, origins: originPatterns(origins), lim: lim, shutdown: shutdown, users: map[string]int{}, pending: map[string][]*wsConn{}}
}

// originPatterns turns the CORS allow-list (https://app.example.com) into
// coder/websocket's host patterns: a browser page from any other origin
// may not open a socket with the user's token.
func originPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// transport returns gqlgen's WebSocket transport wired to w.
func (w *webSockets) transport() graphql.Transport {
	readLimit := int64(w.lim.BodyBytes)
	return wsTransport{transport.Websocket{
		Implementation:   acceptor{websocket.AcceptOptions{OriginPatterns: w.origins}},
		InitFunc:         w.init,
		InitTimeout:      initTimeout,
		PingPongInterval: pingInterval,
		PayloadReadLimit: &readLimit,
		CloseFunc:        w.closed,
		ErrorFunc: func(ctx context.Context, err error) {
			w.logger.DebugContext(ctx, "websocket", "error", err)
		},
	}}
}

// upgrades refuses a socket from a page of another origin with a coded
// 403 (coder/websocket would answer in plain text and log through the
// standard logger), and gives each other upgrade its wsConn before gqlgen
// sees it.
func (w *webSockets) upgrades(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !w.originAllowed(r) {
			rw.Header().Set("Content-Type", mediaJSON)
			rw.WriteHeader(http.StatusForbidden)
			writeRequestErrors(rw, &graphql.Response{Errors: gqlerror.List{gqlerr.WithIDs(r.Context(), &gqlerror.Error{
				Message:    "a page of this origin may not open a WebSocket here: add it to CORS_ALLOWED_ORIGINS",
				Extensions: map[string]any{"code": gqlerr.OriginNotAllowed},
			})}})
			return
		}
		c := &wsConn{addr: w.guard.addr(r)}
		c.initialised = sync.OnceFunc(w.holdPending(c))
		defer c.initialised()
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), wsConnKey{}, c)))
		// gqlgen returns from a few refusals without closing the socket.
		if s := c.socket.Load(); s != nil {
			s.closeIfOpen()
		}
	})
}

// originAllowed is coder/websocket's rule: no Origin (not a browser), the
// server's own host, or a host of the allow-list.
func (w *webSockets) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range w.origins {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// init authenticates connection_init as the HTTP middleware would a
// request, and ends the connection when the token expires.
func (w *webSockets) init(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	c := wsConnFrom(ctx)
	if c == nil {
		return ctx, nil, errors.New("internal: no connection state")
	}
	// As over HTTP, where two Authorization headers are refused: both
	// spellings at once are.
	var values []string
	for _, k := range [...]string{"Authorization", "authorization"} {
		if v, ok := payload[k]; ok {
			s, _ := v.(string)
			values = append(values, s)
		}
	}
	id, refusal := auth.Check(ctx, w.auth, w.logger, values)
	if refusal != nil {
		closeCode, reason := CloseForbidden, refusal.Message
		switch {
		case refusal.Reason == code.ReasonKeysNotLoaded:
			closeCode = CloseTryAgainLater
		case spendsAddressBudget(refusal):
			// As a 401 over HTTP, it spends from the address's budget;
			// once that is spent the client is told to back off (graphql-ws
			// retries 1013 with growing waits).
			if wait := w.guard.spend(ctx, c.addr); wait > 0 {
				closeCode, reason = CloseTryAgainLater, fmt.Sprintf("too many refused credentials from your address; retry in %d s", retrySeconds(wait))
			}
		}
		// The reason goes into the close frame, which gqlgen would send
		// as "terminated".
		c.closeCode.CompareAndSwap(0, int32(closeCode))
		c.reason.CompareAndSwap(nil, &reason)
		return transport.WithWebsocketCloseCode(ctx, closeCode), nil, errors.New(reason)
	}
	// Only now does the socket leave its address's pending ones: a refused
	// one stays counted while it closes.
	c.initialised()
	w.mu.Lock()
	if w.users[id.Subject] >= MaxConnectionsPerUser {
		w.mu.Unlock()
		return transport.WithWebsocketCloseCode(ctx, CloseTooManyConnections), nil,
			errors.New("too many connections for this user")
	}
	w.users[id.Subject]++
	w.mu.Unlock()
	c.user = id.Subject

	ctx, c.cancel = context.WithCancel(viewer.NewContext(ctx, viewer.Viewer{Subject: id.Subject}))
	// No connection outlives its token: Authenticate accepted it up to
	// exp plus the leeway.
	c.expiry = time.AfterFunc(time.Until(id.Expires.Add(auth.Leeway)), func() {
		c.end(CloseForbidden, "token expired")
	})
	c.stop = context.AfterFunc(w.shutdown, func() { c.end(CloseGoingAway, "server shutting down") })
	return ctx, nil, nil
}

// holdPending counts c among its address's sockets that have not sent
// connection_init, and returns what uncounts it. An address already at
// MaxPendingPerAddress loses its oldest one (closed with 4408, as an init
// timeout is): refusing the newest instead would let anyone sharing the
// address keep everyone else's sockets out.
func (w *webSockets) holdPending(c *wsConn) (release func()) {
	key := ratelimit.AddrKey(c.addr)
	w.mu.Lock()
	defer w.mu.Unlock()
	if waiting := w.pending[key]; len(waiting) >= MaxPendingPerAddress {
		oldest := waiting[0]
		w.pending[key] = waiting[1:]
		if s := oldest.socket.Load(); s != nil {
			go func() {
				_ = s.conn.Close(CloseInitTimeout, "too many sockets from your address are waiting for connection_init")
			}()
		}
	}
	w.pending[key] = append(w.pending[key], c)
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		waiting := w.pending[key]
		if i := slices.Index(waiting, c); i >= 0 {
			waiting = slices.Delete(waiting, i, i+1)
		}
		if len(waiting) == 0 {
			delete(w.pending, key)
		} else {
			w.pending[key] = waiting
		}
	}
}

// closed releases what init took.
func (w *webSockets) closed(ctx context.Context, _ int) {
	c := wsConnFrom(ctx)
	if c == nil || c.user == "" {
		return
	}
	c.expiry.Stop()
	c.stop()
	w.mu.Lock()
	if w.users[c.user]--; w.users[c.user] <= 0 {
		delete(w.users, c.user)
	}
	w.mu.Unlock()
}

// acceptor accepts sockets with coder/websocket, as gqlgen's own
// implementation does, but as sockets of ours: every write has a deadline,
// the close code is the one the connection's state holds (gqlgen closes an
// ended connection with 1000 whatever ended it), and a socket gqlgen
// leaves open is closed.
type acceptor struct{ opts websocket.AcceptOptions }

// Bounds of a socket's writes and of its close.
const (
	// writeTimeout: a client that stops reading is dropped when a write
	// has waited this long, rather than holding its socket forever.
	writeTimeout = 10 * time.Second
	// closeGrace: how long a socket may take to close once ended, its
	// close handshake included.
	closeGrace = 5 * time.Second
)

func (a acceptor) Accept(w http.ResponseWriter, r *http.Request, _ transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	opts := a.opts
	opts.Subprotocols = []string{graphQLTransportWS}
	conn, err := websocket.Accept(w, r, &opts)
	if err != nil {
		return nil, err
	}
	s := &socket{conn: conn, state: wsConnFrom(r.Context())}
	if s.state != nil {
		s.state.socket.Store(s)
	}
	return s, nil
}

// socket is one accepted WebSocket, as gqlgen's transport uses it.
type socket struct {
	conn  *websocket.Conn
	state *wsConn

	mu        sync.Mutex
	closing   bool
	readTimer *time.Timer
}

var (
	_ transport.WebsocketConn          = (*socket)(nil)
	_ transport.WebsocketReadLimiter   = (*socket)(nil)
	_ transport.WebsocketReadDeadliner = (*socket)(nil)
)

func (s *socket) NextReader() (int, io.Reader, error) {
	typ, data, err := s.conn.Read(context.Background())
	if err != nil {
		if websocket.CloseStatus(err) != -1 {
			return 0, nil, transport.ErrWebsocketClosed // the peer closed: no error to report
		}
		return 0, nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

func (s *socket) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// coder/websocket closes the connection when a write's context ends.
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, data)
}

// WriteClose starts the close handshake, with the code the connection's
// state holds when gqlgen says 1000. It runs in the background: the
// handshake waits up to closeGrace for the peer.
func (s *socket) WriteClose(code int, reason string) error {
	if s.state != nil {
		if override := int(s.state.closeCode.Load()); override != 0 && (code == transport.WebsocketCloseNormalClosure || code == override) {
			code = override
			if r := s.state.reason.Load(); r != nil {
				reason = *r
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.closing = true
	s.stopReadTimerLocked()
	go func() { _ = s.conn.Close(websocket.StatusCode(code), reason) }()
	return nil
}

// Close drops the connection, unless a close handshake owns it.
func (s *socket) Close() error {
	s.mu.Lock()
	closing := s.closing
	s.stopReadTimerLocked()
	s.mu.Unlock()
	if closing {
		return nil
	}
	return s.conn.CloseNow()
}

// closeIfOpen closes a socket gqlgen returned from without closing (a
// connection_init whose payload is not an object, say).
func (s *socket) closeIfOpen() {
	_ = s.WriteClose(4400, "bad connection_init")
}

func (s *socket) Subprotocol() string { return s.conn.Subprotocol() }

func (s *socket) SetReadLimit(n int64) { s.conn.SetReadLimit(n) }

// SetReadDeadline drops the connection at t: gqlgen's ping/pong sets it.
func (s *socket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopReadTimerLocked()
	if !t.IsZero() {
		s.readTimer = time.AfterFunc(time.Until(t), func() { _ = s.conn.CloseNow() })
	}
	return nil
}

func (s *socket) stopReadTimerLocked() {
	if s.readTimer != nil {
		s.readTimer.Stop()
		s.readTimer = nil
	}
}

// graphQLTransportWS is the one subprotocol served: the legacy graphql-ws
// protocol has no ping/pong and no maintained clients.
const graphQLTransportWS = "graphql-transport-ws"

// wsTransport is gqlgen's WebSocket transport for upgrades that ask for
// graphql-transport-ws; other upgrades fall through to a coded refusal.
type wsTransport struct{ transport.Websocket }

func (t wsTransport) Supports(r *http.Request) bool {
	if !webSocketUpgrade(r) || r.Method != http.MethodGet {
		return false
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == graphQLTransportWS {
				return true
			}
		}
	}
	return false
}
