package namesrv

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// RegistrationState is how one name server last answered this broker's
// REGISTER_BROKER: what /status shows and what readiness is judged by.
type RegistrationState struct {
	Namesrv    string `json:"namesrv"`
	Registered bool   `json:"registered"` // the last registration succeeded
	// LastSuccess is the time of the last successful registration (zero:
	// never); LastError the reason the last one failed, while it fails.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	// Failures counts every failed registration since start.
	Failures int64 `json:"failures"`
}

// ErrNotRegistered: no name server holds this broker's registration, so
// clients cannot route to it.
var ErrNotRegistered = errors.New("namesrv: not registered with any name server")

// regStates tracks RegistrationState per name server.
type regStates struct {
	mu     sync.Mutex
	states map[string]*RegistrationState
	order  []string
}

func newRegStates(addrs []string) *regStates {
	s := &regStates{states: map[string]*RegistrationState{}, order: addrs}
	for _, a := range addrs {
		s.states[a] = &RegistrationState{Namesrv: a}
	}
	return s
}

func (s *regStates) note(addr string, now time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.states[addr]
	if st == nil {
		return
	}
	if err != nil {
		st.Registered, st.LastError = false, err.Error()
		st.Failures++
		return
	}
	st.Registered, st.LastError, st.LastSuccess = true, "", now
}

func (s *regStates) snapshot() []RegistrationState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RegistrationState, 0, len(s.order))
	for _, a := range s.order {
		out = append(out, *s.states[a])
	}
	return out
}

// Registration returns each name server's registration state, in the
// order of RegistrarOptions.NamesrvAddrs.
func (r *Registrar) Registration() []RegistrationState { return r.reg.snapshot() }

// NotRegistered returns an error wrapping ErrNotRegistered, with each name
// server's reason, while no name server holds the registration (also
// before the first attempt has answered); nil once one does.
func (r *Registrar) NotRegistered() error {
	var reasons []string
	for _, st := range r.Registration() {
		if st.Registered {
			return nil
		}
		reason := st.LastError
		if reason == "" {
			reason = "no answer yet"
		}
		reasons = append(reasons, st.Namesrv+": "+reason)
	}
	return fmt.Errorf("%w (%s)", ErrNotRegistered, strings.Join(reasons, "; "))
}
