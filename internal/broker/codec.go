package broker

import (
	"errors"

	"github.com/google/uuid"
)

// The wire form of an event is text, since a PostgreSQL NOTIFY payload must be:
//
//	'1' kind(C|U|D) task-id(36, canonical lower-case) user-id(1..255 bytes)
//
// At most 2+36+255 = 293 bytes, far under NOTIFY's 8000. The leading version
// byte lets a later format coexist with this one during a rolling deploy.
const (
	wireVersion  = '1'
	wireHeader   = 2 + 36
	maxWireBytes = wireHeader + MaxUserIDLen
)

var kindByte = [...]byte{Created: 'C', Updated: 'U', Deleted: 'D'}

func encode(e Event) string {
	b := make([]byte, 0, wireHeader+len(e.UserID))
	b = append(b, wireVersion, kindByte[e.Kind])
	b = append(b, e.TaskID.String()...)
	b = append(b, e.UserID...)
	return string(b)
}

var errMalformed = errors.New("malformed event payload")

// decode reads a payload that anyone able to NOTIFY or PUBLISH on the channel
// may have written, so it accepts only what encode writes.
func decode(p string) (Event, error) {
	if len(p) <= wireHeader || len(p) > maxWireBytes || p[0] != wireVersion {
		return Event{}, errMalformed
	}
	var e Event
	switch p[1] {
	case 'C':
		e.Kind = Created
	case 'U':
		e.Kind = Updated
	case 'D':
		e.Kind = Deleted
	default:
		return Event{}, errMalformed
	}
	id, err := uuid.Parse(p[2:wireHeader])
	if err != nil || id.String() != p[2:wireHeader] {
		return Event{}, errMalformed
	}
	e.TaskID = id
	e.UserID = p[wireHeader:]
	if e.validate() != nil {
		return Event{}, errMalformed
	}
	return e, nil
}
