package admin

import (
	"errors"
	"fmt"
)

// ResetMove is what a reset would do to one queue: the committed offset
// now (-1: none) and the one the reset would store.
type ResetMove struct {
	BrokerAddr string `json:"brokerAddr"`
	BrokerName string `json:"brokerName"`
	Topic      string `json:"topic"`
	QueueID    int32  `json:"queueId"`
	Current    int64  `json:"current"`
	Target     int64  `json:"target"`
	// Delta is Target - Current: negative moves back (messages delivered
	// again), positive skips messages. 0 when there is no current offset.
	Delta int64 `json:"delta"`
}

// PreviewReset computes what ResetOffsets(r) would store on each queue
// without changing anything. It asks the brokers the same questions the
// reset does (queue ranges, SEARCH_OFFSET_BY_TIMESTAMP, committed
// offsets), so the preview and the reset agree unless messages arrive or
// expire between them.
func (c *Client) PreviewReset(r Reset) ([]ResetMove, error) {
	if _, err := r.request(); err != nil {
		return nil, err
	}
	queues, err := c.TopicStatus(r.Topic)
	if queues == nil {
		return nil, err
	}
	committed := map[string]int64{}
	progress, perr := c.GroupProgress(r.Group, r.Topic)
	if perr != nil && !errors.Is(perr, ErrNotFound) {
		return nil, perr
	}
	if progress != nil {
		for _, q := range progress.Queues {
			committed[fmt.Sprintf("%s/%d", q.BrokerName, q.QueueID)] = q.ConsumerOffset
		}
	}
	moves := []ResetMove{}
	for _, q := range queues {
		if r.Offset >= 0 && r.Queue >= 0 && q.QueueID != int32(r.Queue) {
			continue
		}
		target, err := c.resetTarget(r, q)
		if err != nil {
			return nil, err
		}
		m := ResetMove{BrokerAddr: q.BrokerAddr, BrokerName: q.BrokerName, Topic: r.Topic, QueueID: q.QueueID,
			Current: -1, Target: target}
		if cur, ok := committed[fmt.Sprintf("%s/%d", q.BrokerName, q.QueueID)]; ok && cur >= 0 {
			m.Current = cur
			if !r.Force && target > cur {
				m.Target = cur
			}
			m.Delta = m.Target - cur
		}
		moves = append(moves, m)
	}
	return moves, err
}

// resetTarget is the offset a reset stores on q before the force rule.
func (c *Client) resetTarget(r Reset, q QueueStatus) (int64, error) {
	switch {
	case r.Offset >= 0:
		return min(max(r.Offset, q.MinOffset), q.MaxOffset), nil
	case r.Timestamp < 0:
		return q.MaxOffset, nil
	}
	return c.SearchOffset(q.BrokerAddr, r.Topic, q.QueueID, r.Timestamp)
}
