package mqtt

import (
	"errors"
	"fmt"
)

// Packet types (fixed header bits 7-4). Part of the format: do not change.
const (
	typeConnect     byte = 1
	typeConnack     byte = 2
	typePublish     byte = 3
	typePuback      byte = 4
	typePubrec      byte = 5
	typePubrel      byte = 6
	typePubcomp     byte = 7
	typeSubscribe   byte = 8
	typeSuback      byte = 9
	typeUnsubscribe byte = 10
	typeUnsuback    byte = 11
	typePingreq     byte = 12
	typePingresp    byte = 13
	typeDisconnect  byte = 14
	typeAuth        byte = 15
)

var typeNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// Protocol levels.
const (
	version311 byte = 4
	version5   byte = 5
)

// Reason codes: the one table of MQTT reason codes the gateway sends
// (MQTT 5.0 §2.4; the MQTT 3.1.1 CONNACK return codes are mapped from them
// by connackCodeV3). Part of the format: do not change.
const (
	ReasonSuccess                     byte = 0x00 // also: normal disconnection, granted QoS 0
	ReasonGrantedQoS1                 byte = 0x01
	ReasonGrantedQoS2                 byte = 0x02
	ReasonDisconnectWithWill          byte = 0x04
	ReasonNoMatchingSubscribers       byte = 0x10
	ReasonNoSubscriptionExisted       byte = 0x11
	ReasonUnspecified                 byte = 0x80
	ReasonMalformedPacket             byte = 0x81
	ReasonProtocolError               byte = 0x82
	ReasonImplementationSpecific      byte = 0x83
	ReasonUnsupportedProtocolVersion  byte = 0x84
	ReasonClientIDNotValid            byte = 0x85
	ReasonBadUsernameOrPassword       byte = 0x86
	ReasonNotAuthorized               byte = 0x87
	ReasonServerUnavailable           byte = 0x88
	ReasonServerBusy                  byte = 0x89
	ReasonBadAuthenticationMethod     byte = 0x8C
	ReasonKeepAliveTimeout            byte = 0x8D
	ReasonSessionTakenOver            byte = 0x8E
	ReasonTopicFilterInvalid          byte = 0x8F
	ReasonTopicNameInvalid            byte = 0x90
	ReasonPacketIDInUse               byte = 0x91
	ReasonPacketIDNotFound            byte = 0x92
	ReasonReceiveMaximumExceeded      byte = 0x93
	ReasonTopicAliasInvalid           byte = 0x94
	ReasonPacketTooLarge              byte = 0x95
	ReasonQuotaExceeded               byte = 0x97
	ReasonAdministrativeAction        byte = 0x98
	ReasonPayloadFormatInvalid        byte = 0x99
	ReasonRetainNotSupported          byte = 0x9A
	ReasonQoSNotSupported             byte = 0x9B
	ReasonSharedNotSupported          byte = 0x9E
	ReasonSubscriptionIDsNotSupported byte = 0xA1
	ReasonWildcardsNotSupported       byte = 0xA2
	ReasonServerShuttingDown          byte = 0x8B
)

// MQTT 3.1.1 CONNACK return codes (§3.2.2.3). Part of the format.
const (
	connackV3Accepted           byte = 0x00
	connackV3BadVersion         byte = 0x01
	connackV3IDRejected         byte = 0x02
	connackV3ServerUnavailable  byte = 0x03
	connackV3BadUsernameOrPass  byte = 0x04
	connackV3NotAuthorized      byte = 0x05
	subackV3Failure             byte = 0x80
	connackV3NoFittingCode      byte = 0xFF // close without a CONNACK
	maxPacketIDs                     = 65535
	defaultReceiveMaximumClient      = 65535
)

// connackCodeV3 maps an MQTT 5 CONNACK reason to the 3.1.1 return code,
// or connackV3NoFittingCode when 3.1.1 has none (the connection is then
// closed without a CONNACK, [MQTT-3.2.2-6]).
func connackCodeV3(reason byte) byte {
	switch reason {
	case ReasonSuccess:
		return connackV3Accepted
	case ReasonUnsupportedProtocolVersion:
		return connackV3BadVersion
	case ReasonClientIDNotValid:
		return connackV3IDRejected
	case ReasonServerUnavailable, ReasonServerBusy, ReasonServerShuttingDown:
		return connackV3ServerUnavailable
	case ReasonBadUsernameOrPassword:
		return connackV3BadUsernameOrPass
	case ReasonNotAuthorized:
		return connackV3NotAuthorized
	}
	return connackV3NoFittingCode
}

// Error classes of the codec; test with errors.Is.
var (
	// ErrMalformed: the bytes do not form a packet (MQTT 5 reason 0x81).
	ErrMalformed = errors.New("mqtt: malformed packet")
	// ErrProtocol: a well-formed packet the protocol forbids here (0x82).
	ErrProtocol = errors.New("mqtt: protocol error")
	// ErrTooLarge: a packet above the maximum packet size (0x95).
	ErrTooLarge = errors.New("mqtt: packet too large")
)

// reasonError is a codec or protocol failure carrying the reason code the
// connection is closed with.
type reasonError struct {
	class  error
	reason byte
	msg    string
}

func (e *reasonError) Error() string { return e.class.Error() + ": " + e.msg }
func (e *reasonError) Unwrap() error { return e.class }

func malformed(format string, args ...any) error {
	return &reasonError{class: ErrMalformed, reason: ReasonMalformedPacket, msg: fmt.Sprintf(format, args...)}
}

func protocolErr(format string, args ...any) error {
	return &reasonError{class: ErrProtocol, reason: ReasonProtocolError, msg: fmt.Sprintf(format, args...)}
}

// protocolReason is a protocol error with a more specific reason code.
func protocolReason(reason byte, format string, args ...any) error {
	return &reasonError{class: ErrProtocol, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// reasonOf is the reason code an error closes a connection with.
func reasonOf(err error) byte {
	var re *reasonError
	if errors.As(err, &re) {
		return re.reason
	}
	if errors.Is(err, ErrTooLarge) {
		return ReasonPacketTooLarge
	}
	return ReasonUnspecified
}
