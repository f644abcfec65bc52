package remoting

import "errors"

// Error classes. Every error this package returns wraps exactly one of them,
// so callers decide with errors.Is and log the wrapped detail.
var (
	// ErrFrameTooLarge: the length prefix announces a frame above the limit.
	ErrFrameTooLarge = errors.New("remoting: frame too large")
	// ErrMalformedFrame: the framing itself is invalid (length, serialize type,
	// header length). The connection that sent it cannot be resynchronised.
	ErrMalformedFrame = errors.New("remoting: malformed frame")
	// ErrMalformedHeader: the frame is well delimited but its header does not
	// decode (bad JSON, truncated binary header, non-string ext value).
	ErrMalformedHeader = errors.New("remoting: malformed header")
	// ErrMissingField: a required ext field of a typed header is absent.
	ErrMissingField = errors.New("remoting: missing header field")
	// ErrInvalidField: an ext field is present but does not parse.
	ErrInvalidField = errors.New("remoting: invalid header field")
	// ErrMalformedMessage: a stored message record or batch element is
	// truncated or inconsistent.
	ErrMalformedMessage = errors.New("remoting: malformed message")
	// ErrMalformedMsgID: an offset message id has the wrong length or
	// non-hex characters.
	ErrMalformedMsgID = errors.New("remoting: malformed message id")
	// ErrClientClosed: the Client was closed.
	ErrClientClosed = errors.New("remoting: client closed")
	// ErrConnectionClosed: the connection broke while a call was in flight.
	// The next call to the same address dials again.
	ErrConnectionClosed = errors.New("remoting: connection closed")
	// ErrClientBusy: the connection's outbound queue is over its byte limit.
	ErrClientBusy = errors.New("remoting: outbound queue full")
)

// ErrInvalidName: a topic or group name breaks the naming rule (names.go).
var ErrInvalidName = errors.New("remoting: invalid name")
