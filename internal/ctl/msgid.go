package ctl

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// isUniqueKey reports whether id has the shape of a client MSG_ID (the
// UNIQ_KEY property): 16 bytes in hex.
func isUniqueKey(id string) bool {
	b, err := hex.DecodeString(id)
	return err == nil && len(b) == 16
}

// maxTopicsSearched bounds a unique-key search without -topic: one
// QUERY_MESSAGE per topic and broker.
const maxTopicsSearched = 512

// viewUniqueKeyAnywhere finds the message whose MSG_ID is key in any
// topic of any master (retry and dead-letter topics included) and prints
// it: the id message print shows is enough, no -topic needed.
func (e *env) viewUniqueKeyAnywhere(key string) error {
	brokers, err := e.masters()
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, b := range brokers {
		names[b.Name] = true
	}
	var errs []error
	searched := 0
	for _, b := range brokers {
		table, err := e.topicConfigs(b.Addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, topic := range slices.Sorted(maps.Keys(table)) {
			if isSystemTopic(topic, names) {
				continue
			}
			if searched++; searched > maxTopicsSearched {
				return usageError("more than %d topics to search for %s: give -topic", maxTopicsSearched, key)
			}
			msgs, err := e.queryUniqueKey(b.Addr, topic, key)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(msgs) > 0 {
				return e.emit(msgs[0], messageDetail(msgs[0]))
			}
		}
	}
	if err := worst(errs); err != nil {
		return err
	}
	return fmt.Errorf("%w: no message with MSG_ID %s in any of %d topics", ErrNotFound, key, searched)
}

// queryUniqueKey asks one broker for the message with unique key key in
// topic; none found is an empty list, not an error.
func (e *env) queryUniqueKey(addr, topic, key string) ([]messageOut, error) {
	cmd := remoting.NewRequest(remoting.RequestQueryMessage)
	cmd.Ext.Set("topic", topic)
	cmd.Ext.Set("key", key)
	cmd.Ext.Set("maxNum", "1")
	cmd.Ext.Set("beginTimestamp", "0")
	cmd.Ext.Set("endTimestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	cmd.Ext.Set("_UNIQUE_KEY_QUERY", "true")
	resp, err := e.invoke(addr, cmd, remoting.ResponseQueryNotFound)
	if err != nil || resp.Code == remoting.ResponseQueryNotFound {
		return nil, err
	}
	return decodeMessages(addr, resp.Body)
}
