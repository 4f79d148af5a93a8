package broker

import "testing"

func TestLocal(t *testing.T) {
	testConformance(t, backend{
		instances: func(t *testing.T) (Broker, Broker) {
			t.Helper()
			l := NewLocal(testOptions(t))
			t.Cleanup(func() { l.Close() })
			return l, l
		},
	})
}
