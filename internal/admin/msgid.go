package admin

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// IsUniqueKey reports whether id has the shape of a client MSG_ID (the
// UNIQ_KEY property): 16 bytes in hex.
func IsUniqueKey(id string) bool {
	b, err := hex.DecodeString(id)
	return err == nil && len(b) == 16
}

// MaxTopicsSearched bounds a unique-key search without a topic: one
// QUERY_MESSAGE per topic and broker.
const MaxTopicsSearched = 512

// findUniqueKey finds the message whose MSG_ID is key in any topic of any
// addressed master (retry and dead-letter topics included): the id a
// listing shows is enough, no topic needed.
func (c *Client) findUniqueKey(key string) (Message, error) {
	brokers, err := c.Masters()
	if err != nil {
		return Message{}, err
	}
	names := map[string]bool{}
	for _, b := range brokers {
		names[b.Name] = true
	}
	var errs []error
	searched := 0
	for _, b := range brokers {
		table, err := c.TopicConfigs(b.Addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, topic := range slices.Sorted(maps.Keys(table)) {
			if IsSystemTopic(topic, names) {
				continue
			}
			if searched++; searched > MaxTopicsSearched {
				return Message{}, invalid("more than %d topics to search for %s: name its topic", MaxTopicsSearched, key)
			}
			msgs, err := c.queryUniqueKey(b.Addr, topic, key)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(msgs) > 0 {
				return msgs[0], nil
			}
		}
	}
	if err := Worst(errs); err != nil {
		return Message{}, err
	}
	return Message{}, fmt.Errorf("%w: no message with MSG_ID %s in any of %d topics", ErrNotFound, key, searched)
}

// queryUniqueKey asks one broker for the message with unique key key in
// topic; none found is an empty list, not an error.
func (c *Client) queryUniqueKey(addr, topic, key string) ([]Message, error) {
	cmd := remoting.NewRequest(remoting.RequestQueryMessage)
	cmd.Ext.Set("topic", topic)
	cmd.Ext.Set("key", key)
	cmd.Ext.Set("maxNum", "1")
	cmd.Ext.Set("beginTimestamp", "0")
	cmd.Ext.Set("endTimestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	cmd.Ext.Set("_UNIQUE_KEY_QUERY", "true")
	resp, err := c.Invoke(addr, cmd, remoting.ResponseQueryNotFound)
	if err != nil || resp.Code == remoting.ResponseQueryNotFound {
		return nil, err
	}
	return decodeMessages(addr, resp.Body)
}
