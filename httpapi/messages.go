package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/client"
	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/netio/remoting"
)

// maxLookup bounds the messages a lookup returns.
const maxLookup = 256

func (a *API) viewMessage(w http.ResponseWriter, r *http.Request) error {
	msgs, err := a.admin.ViewMessage(r.PathValue("id"), r.URL.Query().Get("topic"))
	if err != nil {
		return err
	}
	return answer(w, msgs, true, nil)
}

// whenParam reads a time query parameter (admin.ParseWhen's forms).
func whenParam(r *http.Request, name, def string, now time.Time) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		s = def
	}
	ms, err := admin.ParseWhen(s, now)
	if err != nil {
		return 0, badRequest("query parameter %s: %v", name, err)
	}
	if ms < 0 {
		ms = now.UnixMilli()
	}
	return ms, nil
}

// searchMessages finds a topic's messages by key (?key=), by queue range
// (?queue=&offset=&count=) or by store time (?begin=&end=).
func (a *API) searchMessages(w http.ResponseWriter, r *http.Request) error {
	topic := r.PathValue("topic")
	if err := remoting.ValidateTopic(topic); err != nil {
		return badRequest("%v", err)
	}
	q := r.URL.Query()
	now := time.Now()
	limit, err := queryInt(r, "max", 32, 1, maxLookup)
	if err != nil {
		return err
	}
	begin, err := whenParam(r, "begin", "earliest", now)
	if err != nil {
		return err
	}
	end, err := whenParam(r, "end", "now", now)
	if err != nil {
		return err
	}
	var msgs []admin.Message
	switch {
	case q.Get("key") != "":
		msgs, err = a.admin.QueryMessages(admin.Query{Topic: topic, Key: q.Get("key"), Begin: begin, End: end,
			Max: min(limit, 64), Unique: q.Get("unique") == "true"})
	case q.Get("queue") != "":
		msgs, err = a.queueRange(r, topic, limit)
	default:
		if q.Get("begin") == "" {
			begin = now.Add(-time.Hour).UnixMilli()
		}
		msgs, err = a.admin.MessagesByTime(topic, begin, end, int(limit))
	}
	if errors.Is(err, admin.ErrNotFound) && msgs == nil && q.Get("key") != "" {
		msgs, err = []admin.Message{}, nil
	}
	return answer(w, msgs, msgs != nil, err)
}

func (a *API) queueRange(r *http.Request, topic string, limit int64) ([]admin.Message, error) {
	queue, err := queryInt(r, "queue", 0, 0, admin.MaxQueues-1)
	if err != nil {
		return nil, err
	}
	offset, err := queryInt(r, "offset", 0, 0, 1<<62)
	if err != nil {
		return nil, err
	}
	addr, err := a.admin.QueueBroker(topic, r.URL.Query().Get("brokerName"))
	if err != nil {
		return nil, err
	}
	return a.admin.PullRange(addr, topic, int32(queue), offset, limit)
}

// browseDLQ lists a group's dead letters, oldest first.
func (a *API) browseDLQ(w http.ResponseWriter, r *http.Request) error {
	group := r.PathValue("group")
	if err := remoting.ValidateConsumerGroup(group); err != nil {
		return badRequest("%v", err)
	}
	limit, err := queryInt(r, "max", 32, 1, maxLookup)
	if err != nil {
		return err
	}
	from, err := queryInt(r, "offset", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	dlq := remoting.DLQTopic(group)
	queues, err := a.admin.TopicStatus(dlq)
	if errors.Is(err, admin.ErrNotFound) {
		return answer(w, []admin.Message{}, true, nil) // no dead letter yet
	}
	if queues == nil {
		return err
	}
	out := []admin.Message{}
	for _, q := range queues {
		msgs, err := a.admin.PullRange(q.BrokerAddr, dlq, q.QueueID, max(from, q.MinOffset), limit-int64(len(out)))
		if err != nil {
			return err
		}
		out = append(out, msgs...)
	}
	return answer(w, out, true, err)
}

// resendBody names dead letters by their offset message ids.
type resendBody struct {
	MsgIDs []string `json:"msgIds"`
}

type resendResult struct {
	MsgID  string      `json:"msgId"`
	Resent *sendResult `json:"resent,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// resendDLQ sends copies of dead letters to their original topic (the
// RETRY_TOPIC property the broker set when it first took the message
// back) with their body, tag, keys and user properties; the copy carries
// ORIGIN_MESSAGE_ID, the dead letter's message id. The dead letters stay.
func (a *API) resendDLQ(w http.ResponseWriter, r *http.Request) error {
	group := r.PathValue("group")
	if err := remoting.ValidateConsumerGroup(group); err != nil {
		return badRequest("%v", err)
	}
	var body resendBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if len(body.MsgIDs) == 0 || len(body.MsgIDs) > maxLookup {
		return badRequest("msgIds: want 1..%d ids", maxLookup)
	}
	results := make([]resendResult, len(body.MsgIDs))
	failed := 0
	for i, id := range body.MsgIDs {
		results[i] = resendResult{MsgID: id}
		res, err := a.resendOne(r, group, id)
		if err != nil {
			results[i].Error, failed = err.Error(), failed+1
			continue
		}
		results[i].Resent = &res
	}
	status := http.StatusOK
	if failed > 0 {
		status = http.StatusMultiStatus
	}
	return writeJSON(w, status, listing[[]resendResult]{Items: results})
}

func (a *API) resendOne(r *http.Request, group, id string) (sendResult, error) {
	dlq := remoting.DLQTopic(group)
	msgs, err := a.admin.ViewMessage(id, dlq)
	if err != nil {
		return sendResult{}, err
	}
	m := msgs[0]
	if m.Topic != dlq {
		return sendResult{}, badRequest("message %s is in topic %s, not in %s", id, m.Topic, dlq)
	}
	target := m.Properties[remoting.PropertyRetryTopic]
	if target == "" {
		return sendResult{}, badRequest("message %s does not name its original topic (no %s property)", id, remoting.PropertyRetryTopic)
	}
	out := client.NewMessage(target, m.Raw)
	out.Tags = m.Tags
	if m.Keys != "" {
		out.Keys = strings.Fields(m.Keys)
	}
	out.Properties = map[string]string{remoting.PropertyOriginMessageID: m.MsgID}
	for k, v := range m.Properties {
		if !reservedProperties[k] && !isBrokerProperty(k) {
			out.Properties[k] = v
		}
	}
	res, err := a.send(r, []*client.Message{out})
	if err != nil {
		return sendResult{}, err
	}
	return res[0], nil
}

// isBrokerProperty names properties the broker or the clients add in
// passing (timers, traces, consume bookkeeping), which a resent copy must
// not carry.
func isBrokerProperty(k string) bool {
	return slices.Contains([]string{remoting.PropertyTimerDeliverMS, remoting.PropertyTimerDelaySec,
		remoting.PropertyTimerDelayMS, remoting.PropertyConsumeStartTimestamp, remoting.PropertyTraceSwitch,
		remoting.PropertyMsgRegion, "TIMER_OUT_MS", remoting.PropertyTransferFlag, remoting.PropertyCorrectionFlag}, k)
}

// traceAnswer is the trace of one message (part of the format).
type traceAnswer struct {
	MsgID    string         `json:"msgId"`
	Message  *admin.Message `json:"message,omitempty"` // where it is stored, when found
	Produced []TraceEvent   `json:"produced"`          // the producers' Pub records
	Consumed []Consumption  `json:"consumed"`          // deliveries, from the consumers' records
	// Broker lists the copies the broker made: retries (%RETRY%group)
	// and dead letters (%DLQ%group) of groups that consume the topic.
	Broker  []admin.Message `json:"broker"`
	Skipped int             `json:"skippedRecords,omitempty"`
}

// traceMessage gathers what is known of one message: where it is stored,
// the trace records clients wrote for it and the copies the broker made.
func (a *API) traceMessage(w http.ResponseWriter, r *http.Request) error {
	id, topic := r.PathValue("id"), r.URL.Query().Get("topic")
	ans := traceAnswer{MsgID: id, Produced: []TraceEvent{}, Consumed: []Consumption{}, Broker: []admin.Message{}}
	msgs, err := a.admin.ViewMessage(id, topic)
	switch {
	case err == nil:
		ans.Message = &msgs[0]
		ans.MsgID, topic = msgs[0].MsgID, msgs[0].Topic
	case !errors.Is(err, admin.ErrNotFound) && !errors.Is(err, admin.ErrInvalid):
		return err
	}
	events, skipped, err := a.traceEvents(ans.MsgID)
	if err != nil {
		return err
	}
	ans.Skipped = skipped
	for _, e := range events {
		if e.Type == tracePub && e.MsgID == ans.MsgID {
			ans.Produced = append(ans.Produced, e)
		}
	}
	ans.Consumed = consumptions(events, ans.MsgID)
	if topic != "" {
		ans.Broker = a.brokerCopies(topic, ans.MsgID)
	}
	if ans.Message == nil && len(ans.Produced) == 0 && len(ans.Consumed) == 0 {
		return fmt.Errorf("%w: no message and no trace record for %s", admin.ErrNotFound, id)
	}
	return writeJSON(w, http.StatusOK, ans)
}

// traceEvents reads the trace records that name msgID.
func (a *API) traceEvents(msgID string) ([]TraceEvent, int, error) {
	msgs, err := a.admin.QueryMessages(admin.Query{Topic: remoting.TraceTopic, Key: msgID,
		End: time.Now().UnixMilli(), Max: 64})
	if errors.Is(err, admin.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var events []TraceEvent
	skipped := 0
	for _, m := range msgs {
		ev, sk := ParseTraceRecords(m.Raw)
		events, skipped = append(events, ev...), skipped+sk
	}
	return events, skipped, nil
}

// brokerCopies finds the retry and dead-letter copies of msgID made for
// the groups with offsets on topic; lookups that fail are left out.
func (a *API) brokerCopies(topic, msgID string) []admin.Message {
	groups, _ := a.admin.Groups()
	out := []admin.Message{}
	seen := map[string]bool{}
	for _, g := range groups {
		if seen[g.Group] || !slices.Contains(g.Topics, topic) {
			continue
		}
		seen[g.Group] = true
		for _, t := range []string{remoting.RetryTopic(g.Group), remoting.DLQTopic(g.Group)} {
			found, err := a.admin.QueryMessages(admin.Query{Topic: t, Key: msgID, End: time.Now().UnixMilli(),
				Max: 32, Unique: true})
			if err == nil {
				out = append(out, found...)
			}
		}
	}
	slices.SortFunc(out, func(x, y admin.Message) int { return int(x.StoreTimestamp - y.StoreTimestamp) })
	return out
}
