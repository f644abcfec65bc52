package namesrv

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// Handle answers one name-server request from the connection remoteAddr.
// It returns nil for a code the name server does not serve; the caller then
// answers REQUEST_CODE_NOT_SUPPORTED.
func (n *Registry) Handle(remoteAddr string, req *remoting.Command) *remoting.Command {
	switch req.Code {
	case remoting.RequestRegisterBroker:
		return n.handleRegisterBroker(remoteAddr, req)
	case remoting.RequestUnregisterBroker:
		return n.handleUnregisterBroker(req)
	case remoting.RequestGetRouteInfoByTopic:
		return n.handleGetRoute(req)
	case remoting.RequestGetBrokerClusterInfo:
		return n.handleClusterInfo(req)
	case remoting.RequestGetAllTopicListFromNameServer:
		return n.handleTopicList(req)
	case remoting.RequestDeleteTopicInNameSrv:
		return n.handleDeleteTopic(req)
	case remoting.RequestQueryDataVersion:
		return n.handleQueryDataVersion(req)
	case remoting.RequestPutKVConfig:
		return n.handlePutKV(req)
	case remoting.RequestGetKVConfig:
		return n.handleGetKV(req)
	case remoting.RequestDeleteKVConfig:
		return n.handleDeleteKV(req)
	case remoting.RequestGetKVListByNamespace:
		return n.handleKVList(req)
	case remoting.RequestWipeWritePermOfBroker:
		return n.handleWritePerm(req, true)
	case remoting.RequestAddWritePermOfBroker:
		return n.handleWritePerm(req, false)
	case remoting.RequestUpdateNameSrvConfig:
		return n.handleUpdateConfig(req)
	case remoting.RequestGetNameSrvConfig:
		return n.handleGetConfig(req)
	default:
		return nil
	}
}

func (n *Registry) handleRegisterBroker(remoteAddr string, req *remoting.Command) *remoting.Command {
	reg, err := parseRegistration(req)
	if errors.Is(err, routing.ErrCRCMismatch) {
		n.logger.Warn("namesrv: register broker crc32 mismatch", "remote", remoteAddr)
		return remoting.NewResponse(req, remoting.ResponseSystemError, "crc32 not match")
	}
	if err != nil {
		n.logger.Warn("namesrv: bad register broker request", "remote", remoteAddr, "err", err)
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	if dropped := dropInvalidTopics(reg.body); dropped > 0 {
		n.logger.Warn("routing: registered topics with invalid names left out", "broker", reg.brokerName,
			"topics", dropped, "remote", remoteAddr)
	}
	reg.remoteAddr = remoteAddr
	result := n.register(reg)
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	if result.haServerAddr != "" {
		resp.Ext.Set("haServerAddr", result.haServerAddr)
	}
	if result.masterAddr != "" {
		resp.Ext.Set("masterAddr", result.masterAddr)
	}
	return resp
}

// parseRegistration validates a REGISTER_BROKER request's header and body.
func parseRegistration(req *remoting.Command) (registration, error) {
	var reg registration
	var err error
	if reg.brokerName, err = requiredExt(req, "brokerName"); err != nil {
		return reg, err
	}
	if reg.clusterName, err = requiredExt(req, "clusterName"); err != nil {
		return reg, err
	}
	if reg.brokerAddr, err = requiredExt(req, "brokerAddr"); err != nil {
		return reg, err
	}
	if err = validateBrokerAddr(reg.brokerAddr); err != nil {
		return reg, err
	}
	if reg.haServerAddr, _ = req.Ext.Get("haServerAddr"); reg.haServerAddr != "" {
		if err = validateBrokerAddr(reg.haServerAddr); err != nil {
			return reg, err
		}
	}
	if reg.brokerID, err = int64Ext(req, "brokerId"); err != nil {
		return reg, err
	}
	if compressed, _ := req.Ext.Get("compressed"); compressed == "true" {
		return reg, fmt.Errorf("%w: compressed registration", routing.ErrUnsupportedBody)
	}
	if err = checkBodyCRC(req); err != nil {
		return reg, err
	}
	reg.body, err = routing.DecodeRegisterBrokerBody(req.Body)
	return reg, err
}

// dropInvalidTopics removes from a registration the topics whose names
// break the naming rule (no client may route by them) and returns how
// many it removed.
func dropInvalidTopics(body *routing.RegisterBrokerBody) int {
	table := body.TopicConfigSerializeWrapper.TopicConfigTable
	dropped := 0
	for name := range table {
		if remoting.ValidateTopic(name) != nil {
			delete(table, name)
			dropped++
		}
	}
	return dropped
}

func checkBodyCRC(req *remoting.Command) error {
	text, ok := req.Ext.Get("bodyCrc32")
	if !ok || text == "" || text == "0" {
		return nil
	}
	want, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: bodyCrc32 %q", ErrMissingField, text)
	}
	if routing.BodyCRC32(req.Body) != int32(want) {
		return routing.ErrCRCMismatch
	}
	return nil
}

func requiredExt(req *remoting.Command, key string) (string, error) {
	value, ok := req.Ext.Get(key)
	if !ok || value == "" {
		return "", fmt.Errorf("%w: %s", ErrMissingField, key)
	}
	return value, nil
}

func int64Ext(req *remoting.Command, key string) (int64, error) {
	text, err := requiredExt(req, key)
	if err != nil {
		return 0, err
	}
	value, err := strconv.ParseInt(text, 10, 64)
	if err != nil || value < 0 {
		return 0, fmt.Errorf("%w: %s=%q is not a non-negative integer", ErrMissingField, key, text)
	}
	return value, nil
}

// validateBrokerAddr rejects addresses that would corrupt the route text the
// Go client splits by hand: whitespace, quotes, separators, braces.
func validateBrokerAddr(addr string) error {
	if len(addr) > 255 || !strings.Contains(addr, ":") ||
		strings.ContainsAny(addr, " \t\r\n\",{}\\") {
		return fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] < 0x21 || addr[i] > 0x7e {
			return fmt.Errorf("%w: %q", ErrBadAddress, addr)
		}
	}
	return nil
}

func (n *Registry) handleUnregisterBroker(req *remoting.Command) *remoting.Command {
	brokerName, err := requiredExt(req, "brokerName")
	if err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	brokerAddr, err := requiredExt(req, "brokerAddr")
	if err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	brokerID, err := int64Ext(req, "brokerId")
	if err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	n.unregister(brokerName, brokerAddr, brokerID)
	return remoting.NewResponse(req, remoting.ResponseSuccess, "")
}

func (n *Registry) handleGetRoute(req *remoting.Command) *remoting.Command {
	topic, _ := req.Ext.Get("topic")
	if err := remoting.ValidateTopic(topic); err != nil {
		return n.refuseTopic(req, remoting.ResponseTopicNotExist, err)
	}
	body, ok := n.RouteBody(topic)
	if !ok {
		return remoting.NewResponse(req, remoting.ResponseTopicNotExist,
			"No topic route info in name server for the topic: "+topic)
	}
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	resp.Body = body
	return resp
}

func (n *Registry) handleClusterInfo(req *remoting.Command) *remoting.Command {
	return jsonResponse(req, n.ClusterInfo())
}

func (n *Registry) handleTopicList(req *remoting.Command) *remoting.Command {
	return jsonResponse(req, routing.TopicList{TopicList: n.Topics()})
}

func (n *Registry) handleDeleteTopic(req *remoting.Command) *remoting.Command {
	topic, ok := req.Ext.Get("topic")
	if !ok {
		return remoting.NewResponse(req, remoting.ResponseSystemError, fmt.Errorf("%w: topic", ErrMissingField).Error())
	}
	if err := remoting.ValidateTopic(topic); err != nil {
		return n.refuseTopic(req, remoting.ResponseTopicNotExist, err)
	}
	if remoting.IsSystemTopic(topic) {
		return n.refuseTopic(req, remoting.ResponseNoPermission, fmt.Errorf("topic %s is a system topic: clients cannot delete it", topic))
	}
	n.DeleteTopic(topic)
	return remoting.NewResponse(req, remoting.ResponseSuccess, "")
}

// refuseTopic answers a topic request the naming rule or the system set
// refuses, and logs it (rate limited by the process logger).
func (n *Registry) refuseTopic(req *remoting.Command, code int16, err error) *remoting.Command {
	n.logger.Warn("namesrv: request with an invalid or system topic refused", "request", remoting.RequestName(req.Code),
		"response", remoting.ResponseName(code), "err", err)
	return remoting.NewResponse(req, code, err.Error())
}

func (n *Registry) handleQueryDataVersion(req *remoting.Command) *remoting.Command {
	brokerAddr, err := requiredExt(req, "brokerAddr")
	if err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	var version routing.DataVersion
	if err := json.Unmarshal(req.Body, &version); err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, fmt.Errorf("%w: data version: %v", routing.ErrBadBody, err).Error())
	}
	stored, changed := n.queryDataVersion(brokerAddr, version)
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	resp.Ext.Set("changed", strconv.FormatBool(changed))
	if stored != nil {
		resp.Body, _ = routing.MarshalCompact(stored)
	}
	return resp
}

func jsonResponse(req *remoting.Command, v any) *remoting.Command {
	body, err := routing.MarshalCompact(v)
	if err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	resp.Body = body
	return resp
}
