package mqtt

import (
	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

// Operator requests (cometctl mqtt clients / kick), answered off the
// event loops through the broker's gateway admin routes.

func (gw *Gateway) registerAdmin() {
	gw.broker.SetGatewayAdmin(remoting.RequestCometMQTTClients, gw.adminClients)
	gw.broker.SetGatewayAdmin(remoting.RequestCometMQTTKick, gw.adminKick)
}

func (gw *Gateway) adminClients(req *remoting.Command) *remoting.Command {
	sessions := gw.Sessions()
	out := make([]adminwire.MQTTClient, len(sessions))
	for i, s := range sessions {
		out[i] = adminwire.MQTTClient(s)
	}
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	resp.Body = adminwire.EncodeMQTTClients(out)
	return resp
}

func (gw *Gateway) adminKick(req *remoting.Command) *remoting.Command {
	id, _ := req.ExtString("clientId")
	end, _ := req.ExtString("end")
	if id == "" || len(id) > maxClientIDBytes {
		return remoting.NewResponse(req, remoting.ResponseSystemError, "clientId missing or too long")
	}
	if !gw.Kick(id, end == "true") {
		return remoting.NewResponse(req, remoting.ResponseQueryNotFound, "no MQTT session "+quoteShort(id))
	}
	gw.log.Info("mqtt: client kicked by an operator", "clientId", quoteShort(id), "endSession", end == "true")
	return remoting.NewResponse(req, remoting.ResponseSuccess, "")
}
