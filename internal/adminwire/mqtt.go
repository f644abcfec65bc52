package adminwire

import (
	"encoding/json"
	"fmt"
)

// MQTTClient is one MQTT session in the COMET_MQTT_CLIENTS (20010)
// response, whose body is a standard JSON array of them, sorted by client
// id. Part of the format: do not change.
//
//	clientId       the MQTT client id
//	connected      a connection holds the session now
//	remote         its address ("" offline)
//	protocolLevel  4 (3.1.1) or 5
//	persistent     the session outlives its connection
//	expirySeconds  how long it outlives it
//	subscriptions  its topic filters
//	inflight       QoS 1/2 messages sent, not yet acknowledged
//	queued         messages matched while it was offline or behind
type MQTTClient struct {
	ClientID      string `json:"clientId"`
	Connected     bool   `json:"connected"`
	Remote        string `json:"remote,omitempty"`
	Version       int    `json:"protocolLevel"`
	Persistent    bool   `json:"persistent"`
	ExpirySeconds uint32 `json:"expirySeconds"`
	Subscriptions int    `json:"subscriptions"`
	Inflight      int    `json:"inflight"`
	Queued        int64  `json:"queued"`
}

// EncodeMQTTClients is the body of a COMET_MQTT_CLIENTS response.
func EncodeMQTTClients(clients []MQTTClient) []byte {
	if clients == nil {
		clients = []MQTTClient{}
	}
	b, _ := json.Marshal(clients)
	return b
}

// DecodeMQTTClients reads a COMET_MQTT_CLIENTS body.
func DecodeMQTTClients(body []byte) ([]MQTTClient, error) {
	var out []MQTTClient
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("adminwire: mqtt clients: %w", err)
	}
	return out, nil
}
