package mqtt

import "errors"

// Authenticator is the hook through which the gateway asks the broker's
// access control (the ACL's accounts) about MQTT clients. Its methods run
// on event loops and must not block: they answer from memory.
//
//   - Authenticate is called for every CONNECT with the user name and
//     password the client sent (hasUsername/hasPassword false when absent)
//     and returns nil to accept, ErrBadCredentials (CONNACK 0x86; 3.1.1:
//     0x04) or ErrNotAuthorized (0x87; 3.1.1: 0x05).
//   - AuthorizePublish is called for every PUBLISH and Will with the MQTT
//     topic and the Comet topic it is stored in; an error refuses it
//     (PUBACK/PUBREC 0x87 in MQTT 5; the connection is closed in 3.1.1,
//     which has no negative acknowledgement).
//   - AuthorizeSubscribe is called for every topic filter of a SUBSCRIBE;
//     an error refuses that filter (SUBACK 0x87; 3.1.1: 0x80).
type Authenticator interface {
	Authenticate(clientID, username string, hasUsername bool, password []byte, hasPassword bool, remote string) error
	AuthorizePublish(username, mqttTopic, cometTopic string) error
	AuthorizeSubscribe(username, filter string) error
}

// Errors an Authenticator returns.
var (
	ErrBadCredentials = errors.New("mqtt: bad user name or password")
	ErrNotAuthorized  = errors.New("mqtt: not authorized")
)

// authReason maps an Authenticator error to a CONNACK reason.
func authReason(err error) byte {
	if errors.Is(err, ErrBadCredentials) {
		return ReasonBadUsernameOrPassword
	}
	return ReasonNotAuthorized
}
