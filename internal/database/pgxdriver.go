package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgxDriver is ent's driver straight over the pgx pool, without
// database/sql between them. database/sql hands a freed connection to a
// waiter chosen at random (sql.DB's connRequestSet.TakeRandom), so under
// load some requests wait many times longer than others, and it starts a
// goroutine per query and per transaction to watch its context. pgxpool
// queues waiters in order and pgx watches contexts with context.AfterFunc.
type pgxDriver struct {
	pool *pgxpool.Pool
	// customPlans is the query mode WithCustomPlans asks for: an unnamed
	// statement (planned for its values), results in binary as with
	// prepared ones; none when the pool's own mode already is unprepared
	// (exec, simple_protocol, chosen for a pooler), which it then keeps.
	customPlans pgx.QueryExecMode
}

func newPgxDriver(pool *pgxpool.Pool) *pgxDriver {
	d := &pgxDriver{pool: pool}
	switch pool.Config().ConnConfig.DefaultQueryExecMode {
	case pgx.QueryExecModeCacheStatement:
		d.customPlans = pgx.QueryExecModeCacheDescribe
	}
	return d
}

var _ dialect.Driver = (*pgxDriver)(nil)

func (d *pgxDriver) Dialect() string { return dialect.Postgres }

// Close closes the pool (again, after DB.Close: pgxpool closes once), as
// ent's driver over database/sql closes its sql.DB.
func (d *pgxDriver) Close() error {
	d.pool.Close()
	return nil
}

func (d *pgxDriver) Exec(ctx context.Context, query string, args, v any) error {
	return exec(ctx, d.pool, query, args, v)
}

func (d *pgxDriver) Query(ctx context.Context, query string, args, v any) error {
	return queryRows(ctx, d.pool, d.customPlans, query, args, v)
}

type customPlansKey struct{}

// WithCustomPlans has the queries run under ctx planned for their
// arguments' values each time, rather than as prepared statements, whose
// plan PostgreSQL may fix after five runs without looking at the values.
// It suits queries whose best plan depends on the values, such as a page
// after a cursor; the others keep the cheaper prepared statement.
func WithCustomPlans(ctx context.Context) context.Context {
	return context.WithValue(ctx, customPlansKey{}, true)
}

// Tx begins a transaction with the server's defaults.
func (d *pgxDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// BeginTx begins a transaction with opts (ent's Client.BeginTx).
func (d *pgxDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	var o pgx.TxOptions
	if opts != nil {
		if opts.ReadOnly {
			o.AccessMode = pgx.ReadOnly
		}
		switch opts.Isolation {
		case sql.LevelDefault:
		case sql.LevelReadUncommitted:
			o.IsoLevel = pgx.ReadUncommitted
		case sql.LevelReadCommitted:
			o.IsoLevel = pgx.ReadCommitted
		case sql.LevelRepeatableRead, sql.LevelSnapshot:
			o.IsoLevel = pgx.RepeatableRead
		case sql.LevelSerializable, sql.LevelLinearizable:
			o.IsoLevel = pgx.Serializable
		default:
			return nil, fmt.Errorf("isolation level %s is not supported", opts.Isolation)
		}
	}
	tx, err := d.pool.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return &pgxTx{tx: tx, ctx: ctx, customPlans: d.customPlans}, nil
}

// pgxTx is a transaction. ent's Commit and Rollback take no context: they
// use the one the transaction began with, as database/sql's Tx does.
type pgxTx struct {
	tx          pgx.Tx
	ctx         context.Context
	customPlans pgx.QueryExecMode
}

func (t *pgxTx) Exec(ctx context.Context, query string, args, v any) error {
	return exec(ctx, t.tx, query, args, v)
}

func (t *pgxTx) Query(ctx context.Context, query string, args, v any) error {
	return queryRows(ctx, t.tx, t.customPlans, query, args, v)
}

// Commit commits, unless the transaction's context has ended: then it rolls
// back, as database/sql does, keeping the connection (pgx would close a
// connection whose COMMIT was cancelled).
func (t *pgxTx) Commit() error {
	if err := t.ctx.Err(); err != nil {
		_ = t.Rollback()
		return err
	}
	return t.tx.Commit(t.ctx)
}

// rollbackTimeout bounds a rollback whose transaction's context has ended:
// it still runs, so that the connection goes back to the pool clean.
const rollbackTimeout = 5 * time.Second

func (t *pgxTx) Rollback() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), rollbackTimeout)
	defer cancel()
	return t.tx.Rollback(ctx)
}

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func argList(args any) ([]any, error) {
	switch a := args.(type) {
	case nil:
		return nil, nil
	case []any:
		return uuidArgs(a), nil
	default:
		return nil, fmt.Errorf("database: arguments of type %T, want []any", args)
	}
}

// uuidArgs passes ent's uuid.UUID arguments (a create's id comes as
// *uuid.UUID) as pgx's own UUID type: uuid.UUID is a driver.Valuer, which
// pgx encodes by formatting it as text and parsing that back, three
// allocations and a sixth of a create's encoding. The caller's slice is
// left as it is.
func uuidArgs(args []any) []any {
	out := args
	for i, a := range args {
		var u uuid.UUID
		switch a := a.(type) {
		case uuid.UUID:
			u = a
		case *uuid.UUID:
			if a == nil {
				continue
			}
			u = *a
		default:
			continue
		}
		if &out[0] == &args[0] {
			out = slices.Clone(args)
		}
		out[i] = pgtype.UUID{Bytes: u, Valid: true}
	}
	return out
}

func exec(ctx context.Context, q querier, query string, args, v any) error {
	argv, err := argList(args)
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		_, err := q.Exec(ctx, query, argv...)
		return err
	case *sql.Result:
		tag, err := q.Exec(ctx, query, argv...)
		if err != nil {
			return err
		}
		*v = result(tag.RowsAffected())
		return nil
	default:
		return fmt.Errorf("database: Exec into %T, want *sql.Result", v)
	}
}

func queryRows(ctx context.Context, q querier, customPlans pgx.QueryExecMode, query string, args, v any) error {
	out, ok := v.(*entsql.Rows)
	if !ok {
		return fmt.Errorf("database: Query into %T, want *sql.Rows", v)
	}
	argv, err := argList(args)
	if err != nil {
		return err
	}
	if customPlans != 0 && ctx.Value(customPlansKey{}) != nil {
		// The unnamed statement: parsed and planned for these values.
		argv = append([]any{customPlans}, argv...)
	}
	rows, err := q.Query(ctx, query, argv...)
	if err != nil {
		return err
	}
	*out = entsql.Rows{ColumnScanner: &pgxRows{rows: rows}}
	return nil
}

// result is an Exec's sql.Result: PostgreSQL has no last insert id.
type result int64

func (r result) LastInsertId() (int64, error) {
	return 0, errors.New("database: PostgreSQL has no LastInsertId; use RETURNING")
}
func (r result) RowsAffected() (int64, error) { return int64(r), nil }

// pgxRows is pgx.Rows as ent's ColumnScanner.
type pgxRows struct {
	rows  pgx.Rows
	cols  []string
	cells []cell // Scan's, one per column, reused row after row
	args  []any
}

// cell holds a column's value in a pgx type while Scan moves it into
// ent's database/sql one. pgx scans into an sql.Scanner through a
// driver.Value: the value boxed, a UUID formatted as text and parsed
// back, three or four allocations a value; these types take it directly.
type cell struct {
	as   uint8 // one of the kinds below, or 0 for the destination itself
	text pgtype.Text
	bool pgtype.Bool
	tstz pgtype.Timestamptz
	ts   pgtype.Timestamp
	uuid pgtype.UUID
}

const (
	asText uint8 = iota + 1
	asBool
	asTimestamptz
	asTimestamp
	asUUID
)

func (r *pgxRows) Close() error {
	r.rows.Close()
	return r.rows.Err()
}

func (r *pgxRows) Columns() ([]string, error) {
	if r.cols == nil {
		fields := r.rows.FieldDescriptions()
		r.cols = make([]string, len(fields))
		for i, f := range fields {
			r.cols[i] = f.Name
		}
	}
	return r.cols, nil
}

// ColumnTypes is database/sql's alone; ent falls back to scanning into any
// without them, and our queries name their columns' types in the schema.
func (r *pgxRows) ColumnTypes() ([]*sql.ColumnType, error) {
	return nil, errors.New("database: column types are not available over pgx")
}

func (r *pgxRows) Err() error          { return r.rows.Err() }
func (r *pgxRows) Next() bool          { return r.rows.Next() }
func (r *pgxRows) NextResultSet() bool { return false }

func (r *pgxRows) Scan(dest ...any) error {
	fields := r.rows.FieldDescriptions()
	if len(dest) != len(fields) {
		return r.rows.Scan(dest...) // pgx's own error
	}
	if len(r.cells) != len(dest) {
		r.cells = make([]cell, len(dest))
		r.args = make([]any, len(dest))
	}
	for i, d := range dest {
		c := &r.cells[i]
		c.as = cellKind(d, fields[i].DataTypeOID)
		switch c.as {
		case asText:
			r.args[i] = &c.text
		case asBool:
			r.args[i] = &c.bool
		case asTimestamptz:
			r.args[i] = &c.tstz
		case asTimestamp:
			r.args[i] = &c.ts
		case asUUID:
			r.args[i] = &c.uuid
		default:
			r.args[i] = d
		}
	}
	err := r.rows.Scan(r.args...)
	clear(r.args) // nothing of the caller's kept past the call
	if err != nil {
		return err
	}
	for i, d := range dest {
		c := &r.cells[i]
		switch c.as {
		case asText:
			*d.(*sql.NullString) = sql.NullString{String: c.text.String, Valid: c.text.Valid}
		case asBool:
			*d.(*sql.NullBool) = sql.NullBool{Bool: c.bool.Bool, Valid: c.bool.Valid}
		case asTimestamptz:
			if c.tstz.Valid && c.tstz.InfinityModifier != pgtype.Finite {
				return fmt.Errorf("database: column %s is %s, which time.Time cannot hold", fields[i].Name, c.tstz.InfinityModifier)
			}
			*d.(*sql.NullTime) = sql.NullTime{Time: c.tstz.Time, Valid: c.tstz.Valid}
		case asTimestamp:
			if c.ts.Valid && c.ts.InfinityModifier != pgtype.Finite {
				return fmt.Errorf("database: column %s is %s, which time.Time cannot hold", fields[i].Name, c.ts.InfinityModifier)
			}
			*d.(*sql.NullTime) = sql.NullTime{Time: c.ts.Time, Valid: c.ts.Valid}
		case asUUID:
			u := d.(*uuid.UUID)
			if !c.uuid.Valid {
				if err := u.Scan(nil); err != nil {
					return fmt.Errorf("database: column %s: %w", fields[i].Name, err)
				}
				continue
			}
			*u = c.uuid.Bytes
		}
	}
	return nil
}

// cellKind is how a destination of ent's takes a column of type oid: by
// one of pgx's types, or, for any pair not listed, by pgx's own path.
func cellKind(dest any, oid uint32) uint8 {
	switch dest.(type) {
	case *sql.NullString:
		switch oid {
		case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
			return asText
		}
	case *sql.NullBool:
		if oid == pgtype.BoolOID {
			return asBool
		}
	case *sql.NullTime:
		switch oid {
		case pgtype.TimestamptzOID:
			return asTimestamptz
		case pgtype.TimestampOID:
			return asTimestamp
		}
	case *uuid.UUID:
		if oid == pgtype.UUIDOID {
			return asUUID
		}
	}
	return 0
}

var _ driver.Result = result(0)
