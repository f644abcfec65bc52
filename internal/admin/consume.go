package admin

import (
	"errors"
	"strconv"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// PullSpec is one pull of one queue as a consumer group.
type PullSpec struct {
	Group, Topic string
	QueueID      int32
	Offset       int64
	Max          int32
	// Tag is a tag expression ("a || b"; "" or "*" is every message).
	Tag string
	// Suspend lets the broker hold the pull this long when nothing is
	// there (long polling); 0 answers at once.
	Suspend time.Duration
}

// Pulled is what one pull returned.
type Pulled struct {
	Messages   []Message
	NextOffset int64 // where the next pull of the queue starts
	MinOffset  int64
	MaxOffset  int64
}

// Pull reads one queue of addr as spec's group, without committing
// anything. An offset outside the queue's range is moved to the offset the
// broker suggests (NextOffset) with no messages.
func (c *Client) Pull(addr string, spec PullSpec) (Pulled, error) {
	if err := validGroup(spec.Group); err != nil {
		return Pulled{}, err
	}
	tag := spec.Tag
	if tag == "" {
		tag = "*"
	}
	h := remoting.PullHeader{ConsumerGroup: spec.Group, Topic: spec.Topic, QueueID: spec.QueueID, QueueOffset: spec.Offset,
		MaxMsgNums: spec.Max, SysFlag: remoting.PullFlagSubscription, Subscription: tag, ExpressionType: "TAG",
		SuspendTimeoutMillis: spec.Suspend.Milliseconds()}
	if spec.Suspend > 0 {
		h.SysFlag |= remoting.PullFlagSuspend
	}
	cmd := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(cmd)
	resp, err := c.InvokeWithin(addr, cmd, c.opts.Timeout+spec.Suspend, remoting.ResponsePullNotFound,
		remoting.ResponsePullOffsetMoved, remoting.ResponsePullRetryImmediately)
	if err != nil {
		return Pulled{}, err
	}
	rh, err := remoting.ParsePullResponseHeader(resp)
	if err != nil {
		return Pulled{}, bodyError(addr, err)
	}
	out := Pulled{NextOffset: rh.NextBeginOffset, MinOffset: rh.MinOffset, MaxOffset: rh.MaxOffset, Messages: []Message{}}
	if resp.Code == remoting.ResponseSuccess {
		if out.Messages, err = decodeMessages(addr, resp.Body); err != nil {
			return Pulled{}, err
		}
	}
	return out, nil
}

func queueCommand(code int16, group, topic string, queue int32) *remoting.Command {
	cmd := remoting.NewRequest(code)
	cmd.Ext.Set("consumerGroup", group)
	cmd.Ext.Set("topic", topic)
	cmd.Ext.Set("queueId", strconv.Itoa(int(queue)))
	return cmd
}

// CommittedOffset is the group's committed offset of a queue; found is
// false when it has none.
func (c *Client) CommittedOffset(addr, group, topic string, queue int32) (offset int64, found bool, err error) {
	if err := validGroup(group); err != nil {
		return 0, false, err
	}
	resp, err := c.Invoke(addr, queueCommand(remoting.RequestQueryConsumerOffset, group, topic, queue))
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	off, err := resp.ExtInt64("offset")
	if err != nil {
		return 0, false, bodyError(addr, err)
	}
	return off, true, nil
}

// CommitOffset stores offset (the next one to consume) as the group's
// committed offset of a queue (UPDATE_CONSUMER_OFFSET).
func (c *Client) CommitOffset(addr, group, topic string, queue int32, offset int64) error {
	if err := validGroup(group); err != nil {
		return err
	}
	if offset < 0 {
		return invalid("offset %d: must be >= 0", offset)
	}
	cmd := queueCommand(remoting.RequestUpdateConsumerOffset, group, topic, queue)
	cmd.Ext.Set("commitOffset", strconv.FormatInt(offset, 10))
	if _, err := c.Invoke(addr, cmd); err != nil {
		return err
	}
	return nil
}
