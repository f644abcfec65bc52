package actors

import "fmt"

// ListenError is a broker listener that could not open. Option names the
// BrokerOptions field that holds its address ("Listen", "HAListen"), so the
// process that configured it can name the setting to change.
type ListenError struct {
	Option string
	Addr   string
	Err    error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("actors: %s %s: %v", e.Option, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }
