package admin

import (
	"strconv"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

// RuntimeInfo fetches a broker's runtime table (GET_BROKER_RUNTIME_INFO).
func (c *Client) RuntimeInfo(addr string) (map[string]string, error) {
	resp, err := c.Invoke(addr, remoting.NewRequest(remoting.RequestGetBrokerRuntimeInfo))
	if err != nil {
		return nil, err
	}
	kv, err := adminwire.DecodeKVTable(resp.Body)
	if err != nil {
		return nil, bodyError(addr, err)
	}
	return kv.Table, nil
}

// BrokerConfig fetches a broker's configuration (GET_BROKER_CONFIG).
func (c *Client) BrokerConfig(addr string) (map[string]string, error) {
	resp, err := c.Invoke(addr, remoting.NewRequest(remoting.RequestGetBrokerConfig))
	if err != nil {
		return nil, err
	}
	return adminwire.DecodeProperties(resp.Body), nil
}

// ClusterRow is one broker of the cluster with its traffic. Counts are
// numbers and the uptime is in seconds (RocketMQ sends every runtime value
// as text, the uptime as Java's "[ 0 days, 0 hours, ... ]").
type ClusterRow struct {
	BrokerRef
	Reachable     bool    `json:"reachable"`
	Version       string  `json:"version,omitempty"`
	PutMessages   int64   `json:"putMessages"`
	GetMessages   int64   `json:"getMessages"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	Error         string  `json:"error,omitempty"`
	// Info holds the whole runtime table for callers that want more
	// (disk use, put and get rates); not part of cometctl's JSON.
	Info map[string]string `json:"-"`
}

// Cluster lists every broker the name server knows with its runtime
// summary; unreachable brokers are rows with Error set (and counted in
// the returned error).
func (c *Client) Cluster() ([]ClusterRow, error) {
	brokers, err := c.AllBrokers()
	if err != nil {
		return nil, err
	}
	rows := []ClusterRow{}
	var errs []error
	for _, b := range brokers {
		row := ClusterRow{BrokerRef: b}
		info, err := c.RuntimeInfo(b.Addr)
		if err != nil {
			errs = append(errs, err)
			row.Error = err.Error()
		} else {
			row.Reachable, row.Info = true, info
			row.Version = info["brokerVersionDesc"]
			row.PutMessages, row.GetMessages = infoInt(info, "msgPutTotalTodayNow"), infoInt(info, "msgGetTotalTodayNow")
			if boot := infoInt(info, "bootTimestamp"); boot > 0 {
				row.UptimeSeconds = max(0, time.Since(time.UnixMilli(boot)).Truncate(time.Second).Seconds())
			}
		}
		rows = append(rows, row)
	}
	return rows, Worst(errs)
}

// infoInt reads a number of a runtime table; absent or malformed is 0.
func infoInt(info map[string]string, key string) int64 {
	n, _ := strconv.ParseInt(info[key], 10, 64)
	return n
}

// BrokerTables runs fetch (RuntimeInfo or BrokerConfig) on every
// addressed master and returns the tables by broker address.
func (c *Client) BrokerTables(fetch func(addr string) (map[string]string, error)) (map[string]map[string]string, error) {
	brokers, err := c.Masters()
	if err != nil {
		return nil, err
	}
	out, errs := perBroker(brokers, func(b BrokerRef) (map[string]string, error) { return fetch(b.Addr) })
	return out, Worst(errs)
}
