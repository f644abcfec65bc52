package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/cometmq/comet/netio/remoting"
)

// Error classes. Every error the SDK returns wraps at most one of them, so
// callers branch with errors.Is and log the wrapped detail.
var (
	// ErrTimeout: a call did not complete before its deadline (the caller's
	// context or the per-attempt send timeout). It also matches
	// context.DeadlineExceeded.
	ErrTimeout = errors.New("client: timeout")
	// ErrNoRoute: the name server knows no route for the topic (and, for a
	// producer, no auto-create template either), or the route has no
	// writable or readable queue.
	ErrNoRoute = errors.New("client: no route")
	// ErrBrokerBusy: the broker answered SYSTEM_BUSY, or the connection's
	// outbound queue is over its byte limit. Slow down and try again.
	ErrBrokerBusy = errors.New("client: broker busy")
	// ErrClosed: the Client, producer or consumer was closed.
	ErrClosed = errors.New("client: closed")
	// ErrConnection: the connection to a broker or name server could not be
	// made or broke while the call was in flight. Sends retry it on another
	// broker.
	ErrConnection = errors.New("client: connection failed")
	// ErrInvalidMessage: the message is not valid (empty topic or body,
	// reserved characters in a property, too large), or the broker answered
	// MESSAGE_ILLEGAL.
	ErrInvalidMessage = errors.New("client: invalid message")
	// ErrInvalidOption: an option or argument is out of range.
	ErrInvalidOption = errors.New("client: invalid option")
	// ErrProtocol: a broker or name server answered something the SDK
	// cannot parse.
	ErrProtocol = errors.New("client: protocol error")
)

// BrokerError is a response code other than success from a broker or name
// server. errors.As finds it; errors.Is matches it against the classes:
// SYSTEM_BUSY is ErrBrokerBusy, TOPIC_NOT_EXIST is ErrNoRoute and
// MESSAGE_ILLEGAL is ErrInvalidMessage.
type BrokerError struct {
	Code    int16  // response code (remoting.Response*)
	Remark  string // the peer's explanation
	Addr    string // the peer that answered
	Request int16  // the request code that was answered
}

func (e *BrokerError) Error() string {
	return fmt.Sprintf("client: %s to %s answered %s (%d): %s",
		remoting.RequestName(e.Request), e.Addr, remoting.ResponseName(e.Code), e.Code, e.Remark)
}

// Is maps response codes onto the error classes.
func (e *BrokerError) Is(target error) bool {
	switch target {
	case ErrBrokerBusy:
		return e.Code == remoting.ResponseSystemBusy
	case ErrNoRoute:
		return e.Code == remoting.ResponseTopicNotExist
	case ErrInvalidMessage:
		return e.Code == remoting.ResponseMessageIllegal
	}
	return false
}

// retryableSendCode is RocketMQ's producer retry set: another broker may
// accept what this one refused.
func retryableSendCode(code int16) bool {
	switch code {
	case remoting.ResponseSystemError, remoting.ResponseServiceNotAvailable,
		remoting.ResponseNoPermission, remoting.ResponseTopicNotExist:
		return true
	}
	return false
}

// transportError classifies an error of remoting.Client.
func transportError(err error, addr string, code int16) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s to %s: %w", ErrTimeout, remoting.RequestName(code), addr, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("client: %s to %s: %w", remoting.RequestName(code), addr, err)
	case errors.Is(err, remoting.ErrClientClosed):
		return fmt.Errorf("%w: %v", ErrClosed, err)
	case errors.Is(err, remoting.ErrClientBusy):
		return fmt.Errorf("%w: %v", ErrBrokerBusy, err)
	}
	return fmt.Errorf("%w: %s to %s: %v", ErrConnection, remoting.RequestName(code), addr, err)
}

// ctxError wraps an error of a context the SDK waited on.
func ctxError(ctx context.Context, what string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ErrTimeout, what, err)
	}
	return fmt.Errorf("client: %s: %w", what, err)
}

// brokerError builds the error for an unexpected response code.
func brokerError(resp *remoting.Command, addr string, request int16) error {
	return &BrokerError{Code: resp.Code, Remark: resp.Remark, Addr: addr, Request: request}
}
