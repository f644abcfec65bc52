package controller

import (
	"errors"
	"fmt"

	"github.com/cometmq/comet/netio/remoting"
)

// Error classes. Every error of this package wraps one of them, so callers
// decide with errors.Is.
var (
	// ErrInvalidRequest: a request body does not decode or a field is out
	// of range (CONTROLLER_INVALID_REQUEST).
	ErrInvalidRequest = errors.New("controller: invalid request")
	// ErrNotLeader: the member is not the raft leader; the client tries the
	// leader it names, or the other members.
	ErrNotLeader = errors.New("controller: not the leader")
	// ErrFenced: the request named an older master or in-sync set epoch
	// than the current one; the requester must refresh its view.
	ErrFenced = errors.New("controller: fenced by a newer epoch")
	// ErrRefused: the controller refused the request for another reason
	// (not the master, not registered, no live in-sync member, ...).
	ErrRefused = errors.New("controller: refused")
	// ErrUnavailable: no member answered before the deadline.
	ErrUnavailable = errors.New("controller: no controller available")
	// ErrClosed: the controller or client was closed.
	ErrClosed = errors.New("controller: closed")
)

// Error is a refusal a controller answered, with its response code from
// remoting's table.
type Error struct {
	Code   int16
	Remark string
}

func (e *Error) Error() string {
	return fmt.Sprintf("controller: %s: %s", remoting.ResponseName(e.Code), e.Remark)
}

// Is maps the response code onto the package's error classes.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotLeader:
		return e.Code == remoting.ResponseControllerNotLeader
	case ErrFenced:
		return e.Code == remoting.ResponseControllerFencedMasterEpoch ||
			e.Code == remoting.ResponseControllerFencedSyncStateSetEpoch
	case ErrInvalidRequest:
		return e.Code == remoting.ResponseControllerInvalidRequest
	case ErrRefused:
		return e.Code != remoting.ResponseSuccess && e.Code != remoting.ResponseControllerNotLeader
	}
	return false
}
