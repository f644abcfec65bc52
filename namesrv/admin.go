package namesrv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/internal/atomicfile"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// The name server's operator requests (mqadmin updateKvConfig,
// deleteKvConfig, wipeWritePerm, addWritePerm, updateNamesrvConfig,
// getNamesrvConfig):
//
//	100 PUT_KV_CONFIG        ext namespace, key, value
//	101 GET_KV_CONFIG        ext namespace, key → ext value, or QUERY_NOT_FOUND
//	102 DELETE_KV_CONFIG     ext namespace, key
//	219 GET_KVLIST_BY_NAMESPACE ext namespace → {"table":{k:v}}, or QUERY_NOT_FOUND
//	205 WIPE_WRITE_PERM_OF_BROKER ext brokerName → ext wipeTopicCount
//	327 ADD_WRITE_PERM_OF_BROKER  ext brokerName → ext addTopicCount
//	318 UPDATE_NAMESRV_CONFIG body Java properties text
//	319 GET_NAMESRV_CONFIG    → body Java properties text
//
// The KV table is kept in RegistryOptions.KVConfigPath when one is set,
// in RocketMQ's kvConfig.json layout (part of the format: do not change):
//
//	{"configTable":{"namespace":{"key":"value"}}}
//
// A wiped broker keeps its queues read-only in every route until its
// write permission is added back, whatever it registers meanwhile (RocketMQ
// keeps the wipe until the broker's topic config changes).

// kvTable is the name server's KV config.
type kvTable struct {
	path string // "" keeps it in memory
	mu   struct {
		sync.Mutex
		table map[string]map[string]string // namespace → key → value
	}
}

type kvFile struct {
	ConfigTable map[string]map[string]string `json:"configTable"`
}

// loadKV reads the KV table from path ("" for none).
func loadKV(path string) (*kvTable, error) {
	kv := &kvTable{path: path}
	kv.mu.table = map[string]map[string]string{}
	if path == "" {
		return kv, nil
	}
	if _, err := atomicfile.RemoveTemps(path); err != nil {
		return nil, fmt.Errorf("namesrv: kv config: %w", err)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return kv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("namesrv: read kv config: %w", err)
	}
	var f kvFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("namesrv: parse %s: %w", path, err)
	}
	if f.ConfigTable != nil {
		kv.mu.table = f.ConfigTable
	}
	return kv, nil
}

// persistLocked writes the table when it has a path.
func (kv *kvTable) persistLocked() error {
	if kv.path == "" {
		return nil
	}
	data, err := json.Marshal(kvFile{ConfigTable: kv.mu.table})
	if err != nil {
		return err
	}
	return atomicfile.Write(kv.path, data)
}

func (kv *kvTable) put(namespace, key, value string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	ns := kv.mu.table[namespace]
	if ns == nil {
		ns = map[string]string{}
		kv.mu.table[namespace] = ns
	}
	old, had := ns[key]
	ns[key] = value
	if err := kv.persistLocked(); err != nil {
		if had {
			ns[key] = old
		} else {
			delete(ns, key)
		}
		return err
	}
	return nil
}

func (kv *kvTable) get(namespace, key string) (string, bool) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.mu.table[namespace][key]
	return v, ok
}

func (kv *kvTable) list(namespace string) map[string]string {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return maps.Clone(kv.mu.table[namespace])
}

func (kv *kvTable) remove(namespace, key string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	ns := kv.mu.table[namespace]
	old, had := ns[key]
	if !had {
		return nil
	}
	delete(ns, key)
	if len(ns) == 0 {
		delete(kv.mu.table, namespace)
	}
	if err := kv.persistLocked(); err != nil {
		if kv.mu.table[namespace] == nil {
			kv.mu.table[namespace] = ns
		}
		ns[key] = old
		return err
	}
	return nil
}

func (n *Registry) handlePutKV(req *remoting.Command) *remoting.Command {
	namespace, nerr := requiredExt(req, "namespace")
	key, kerr := requiredExt(req, "key")
	if nerr != nil || kerr != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, "namespace or key is null")
	}
	value, _ := req.Ext.Get("value")
	if err := n.kv.put(namespace, key, value); err != nil {
		n.logger.Error("namesrv: store kv config", "namespace", namespace, "key", key, "err", err)
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	n.logger.Info("namesrv: kv config put", "namespace", namespace, "key", key)
	return remoting.NewResponse(req, remoting.ResponseSuccess, "")
}

func (n *Registry) handleGetKV(req *remoting.Command) *remoting.Command {
	namespace, _ := req.Ext.Get("namespace")
	key, _ := req.Ext.Get("key")
	value, ok := n.kv.get(namespace, key)
	if !ok {
		return remoting.NewResponse(req, remoting.ResponseQueryNotFound,
			"No config item, Namespace: "+namespace+" Key: "+key)
	}
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	resp.Ext.Set("value", value)
	return resp
}

func (n *Registry) handleKVList(req *remoting.Command) *remoting.Command {
	namespace, _ := req.Ext.Get("namespace")
	table := n.kv.list(namespace)
	if len(table) == 0 {
		return remoting.NewResponse(req, remoting.ResponseQueryNotFound, "No config item, Namespace: "+namespace)
	}
	return jsonResponse(req, struct {
		Table map[string]string `json:"table"`
	}{table})
}

func (n *Registry) handleDeleteKV(req *remoting.Command) *remoting.Command {
	namespace, _ := req.Ext.Get("namespace")
	key, _ := req.Ext.Get("key")
	if err := n.kv.remove(namespace, key); err != nil {
		n.logger.Error("namesrv: store kv config", "namespace", namespace, "key", key, "err", err)
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	return remoting.NewResponse(req, remoting.ResponseSuccess, "")
}

// KVConfig returns one KV config value.
func (n *Registry) KVConfig(namespace, key string) (string, bool) { return n.kv.get(namespace, key) }

// handleWritePerm answers WIPE_WRITE_PERM_OF_BROKER (wipe) and
// ADD_WRITE_PERM_OF_BROKER with the number of topics it changed.
func (n *Registry) handleWritePerm(req *remoting.Command, wipe bool) *remoting.Command {
	brokerName, err := requiredExt(req, "brokerName")
	if err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
	}
	count := n.setWritePerm(brokerName, !wipe)
	n.logger.Info("namesrv: broker write permission changed", "broker", brokerName, "writable", !wipe, "topics", count)
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	if wipe {
		resp.Ext.Set("wipeTopicCount", strconv.Itoa(count))
	} else {
		resp.Ext.Set("addTopicCount", strconv.Itoa(count))
	}
	return resp
}

// setWritePerm sets or clears the write bit of every queue data of a
// broker name and returns how many topics it changed.
func (n *Registry) setWritePerm(brokerName string, writable bool) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if writable {
		delete(n.mu.wiped, brokerName)
	} else {
		n.mu.wiped[brokerName] = true
	}
	count := 0
	for _, queues := range n.mu.topicQueues {
		qd, ok := queues[brokerName]
		if !ok {
			continue
		}
		if writable {
			qd.Perm |= remoting.PermWrite
		} else {
			qd.Perm &^= remoting.PermWrite
		}
		queues[brokerName] = qd
		count++
	}
	n.invalidateLocked()
	return count
}

// namesrvSettings are the settings GET_NAMESRV_CONFIG shows and
// UPDATE_NAMESRV_CONFIG may change (RocketMQ's NamesrvConfig names). Only
// those marked runtime change while the server runs; they are kept in
// memory until it restarts.
type namesrvSettings struct {
	mu     sync.Mutex
	values map[string]string
}

// namesrvRuntimeKeys change at runtime; namesrvBlackList never changes
// over the network (RocketMQ's configBlackList).
var (
	namesrvRuntimeKeys = []string{"productEnvName", "clusterTest", "orderMessageEnable"}
	namesrvBlackList   = []string{"configBlackList", "configStorePath", "kvConfigPath", "rocketmqHome"}
)

func newNamesrvSettings(kvPath string) *namesrvSettings {
	return &namesrvSettings{values: map[string]string{
		"productEnvName": "center", "clusterTest": "false", "orderMessageEnable": "false",
		"configBlackList": strings.Join(namesrvBlackList[:3], ";"), "kvConfigPath": kvPath,
		"configStorePath": "", "rocketmqHome": "",
	}}
}

// SetListenAddr records the address the server is bound to, for
// GET_NAMESRV_CONFIG's listenPort.
func (n *Registry) SetListenAddr(addr string) {
	if _, port, err := splitPort(addr); err == nil {
		n.settings.mu.Lock()
		n.settings.values["listenPort"] = port
		n.settings.mu.Unlock()
	}
}

func (n *Registry) handleGetConfig(req *remoting.Command) *remoting.Command {
	n.settings.mu.Lock()
	props := maps.Clone(n.settings.values)
	n.settings.mu.Unlock()
	props["brokerExpiryMillis"] = strconv.FormatInt(n.expiry.Milliseconds(), 10)
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	resp.Body = adminwire.EncodeProperties(props)
	return resp
}

func (n *Registry) handleUpdateConfig(req *remoting.Command) *remoting.Command {
	props := adminwire.DecodeProperties(req.Body)
	if len(props) == 0 {
		return remoting.NewResponse(req, remoting.ResponseSystemError, "string2Properties error")
	}
	var restart []string
	for k := range props {
		switch {
		case slices.Contains(namesrvBlackList, k):
			return remoting.NewResponse(req, remoting.ResponseNoPermission, "Can not update config in black list.")
		case !slices.Contains(namesrvRuntimeKeys, k):
			restart = append(restart, k)
		}
	}
	if len(restart) > 0 {
		slices.Sort(restart)
		n.logger.Warn("namesrv: config update refused", "keys", restart)
		return remoting.NewResponse(req, remoting.ResponseSystemError,
			"name server config not changed: keys that cannot change at runtime or are unknown: "+strings.Join(restart, ", "))
	}
	n.settings.mu.Lock()
	maps.Copy(n.settings.values, props)
	n.settings.mu.Unlock()
	n.logger.Info("namesrv: config updated until restart", "settings", props)
	return remoting.NewResponse(req, remoting.ResponseSuccess, "")
}

// applyWipedLocked clears the write bit of a wiped broker's queue data.
func (n *Registry) applyWipedLocked(brokerName string, qd routing.QueueData) routing.QueueData {
	if n.mu.wiped[brokerName] {
		qd.Perm &^= remoting.PermWrite
	}
	return qd
}

func splitPort(addr string) (string, string, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("namesrv: no port in %q", addr)
	}
	return addr[:i], addr[i+1:], nil
}
