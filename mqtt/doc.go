// Package mqtt is Comet's MQTT 3.1.1 and 5.0 gateway.
package mqtt
