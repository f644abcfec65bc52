package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/routing"
)

// Listing answers carry what the brokers that answered said and, when
// some did not, the most telling error as "partial" (part of the format).
type listing[T any] struct {
	Items   T      `json:"items"`
	Partial string `json:"partial,omitempty"`
}

// answer writes v, or err alone when there is no v.
func answer[T any](w http.ResponseWriter, v T, ok bool, err error) error {
	if !ok {
		return err
	}
	out := listing[T]{Items: v}
	if err != nil {
		out.Partial = err.Error()
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getCluster(w http.ResponseWriter, _ *http.Request) error {
	rows, err := a.admin.Cluster()
	type brokerView struct {
		admin.ClusterRow
		Runtime map[string]string `json:"runtimeInfo,omitempty"`
	}
	views := make([]brokerView, len(rows))
	for i, r := range rows {
		views[i] = brokerView{r, r.Info}
	}
	return answer(w, views, rows != nil, err)
}

func (a *API) getBrokerConfigs(w http.ResponseWriter, _ *http.Request) error {
	cfgs, err := a.admin.BrokerTables(a.admin.BrokerConfig)
	return answer(w, cfgs, cfgs != nil, err)
}

type verifyRequest struct {
	From           int64 `json:"from"`
	BytesPerSecond int64 `json:"bytesPerSecond"`
}

func (a *API) verifyBroker(w http.ResponseWriter, r *http.Request) error {
	req := verifyRequest{BytesPerSecond: 64 << 20}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.From < 0 || req.BytesPerSecond < 1<<20 || req.BytesPerSecond > 1<<30 {
		return badRequest("from must be >= 0 and bytesPerSecond within 1 MiB..1 GiB")
	}
	addr := r.PathValue("addr")
	if !a.admin.KnownBroker(addr) {
		return badRequest("%s is not a broker the name server lists", addr)
	}
	res, err := a.admin.VerifyBroker(addr, req.From, req.BytesPerSecond)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (a *API) listTopics(w http.ResponseWriter, r *http.Request) error {
	rows, err := a.admin.Topics(r.URL.Query().Get("system") == "true")
	return answer(w, rows, rows != nil, err)
}

// topicBody creates or updates a topic; absent fields keep their value on
// update and take the defaults on create: perm 6 and the queue count the
// broker gives an auto-created topic. Force allows a reserved name (a
// retry, dead-letter or system topic).
type topicBody struct {
	Topic       string `json:"topic"`
	Queues      *int32 `json:"queues,omitempty"`
	ReadQueues  *int32 `json:"readQueues,omitempty"`
	WriteQueues *int32 `json:"writeQueues,omitempty"`
	Perm        *int32 `json:"perm,omitempty"`
	Order       *bool  `json:"order,omitempty"`
	Force       bool   `json:"force,omitempty"`
}

// validate refuses a queue count given as 0 or less (absent is the
// default, not 0).
func (b *topicBody) validate() error {
	for _, n := range []*int32{b.Queues, b.ReadQueues, b.WriteQueues} {
		if n != nil && (*n < 1 || *n > admin.MaxQueues) {
			return badRequest("queue counts must be within 1..%d", admin.MaxQueues)
		}
	}
	return nil
}

// reservedHint tells how to change a reserved topic anyway.
func reservedHint(err error, how string) error {
	if errors.Is(err, admin.ErrReserved) {
		return fmt.Errorf("%w; %s to change it anyway", err, how)
	}
	return err
}

func (b *topicBody) apply(c *routing.TopicConfig) {
	if b.Queues != nil {
		c.ReadQueueNums, c.WriteQueueNums = *b.Queues, *b.Queues
	}
	if b.ReadQueues != nil {
		c.ReadQueueNums = *b.ReadQueues
	}
	if b.WriteQueues != nil {
		c.WriteQueueNums = *b.WriteQueues
	}
	if b.Perm != nil {
		c.Perm = *b.Perm
	}
	if b.Order != nil {
		c.Order = *b.Order
	}
}

func (a *API) createTopic(w http.ResponseWriter, r *http.Request) error {
	var body topicBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	c := routing.TopicConfig{TopicName: body.Topic, Perm: 6}
	body.apply(&c)
	rows, err := a.admin.CreateTopic(c, body.Force)
	a.routes.forget(body.Topic)
	if rows == nil {
		return reservedHint(err, `send "force": true`)
	}
	return answerChange(w, http.StatusCreated, rows, err)
}

// answerChange reports per-server outcomes; a partial failure is 502 with
// the rows, so a person sees which servers took the change.
func answerChange(w http.ResponseWriter, status int, rows []admin.ResultRow, err error) error {
	if err != nil {
		status = statusOf(err)
	}
	out := listing[[]admin.ResultRow]{Items: rows}
	if err != nil {
		out.Partial = err.Error()
	}
	return writeJSON(w, status, out)
}

func (a *API) updateTopic(w http.ResponseWriter, r *http.Request) error {
	var body topicBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	topic := r.PathValue("topic")
	if body.Topic != "" && body.Topic != topic {
		return badRequest("the body names topic %q, the path %q", body.Topic, topic)
	}
	if err := body.validate(); err != nil {
		return err
	}
	rows, err := a.admin.UpdateTopic(topic, body.Force, body.apply)
	a.routes.forget(topic)
	if rows == nil {
		return reservedHint(err, `send "force": true`)
	}
	return answerChange(w, http.StatusOK, rows, err)
}

func (a *API) deleteTopic(w http.ResponseWriter, r *http.Request) error {
	topic := r.PathValue("topic")
	rows, err := a.admin.DeleteTopic(topic, r.URL.Query().Get("force") == "true")
	a.routes.forget(topic)
	if rows == nil {
		return reservedHint(err, "add ?force=true")
	}
	return answerChange(w, http.StatusOK, rows, err)
}

func (a *API) topicRoute(w http.ResponseWriter, r *http.Request) error {
	route, err := a.admin.Route(r.PathValue("topic"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, route)
}

func (a *API) topicQueues(w http.ResponseWriter, r *http.Request) error {
	rows, err := a.admin.TopicStatus(r.PathValue("topic"))
	return answer(w, rows, rows != nil, err)
}

func (a *API) listGroups(w http.ResponseWriter, _ *http.Request) error {
	rows, err := a.admin.Groups()
	return answer(w, rows, rows != nil, err)
}

func (a *API) groupProgress(w http.ResponseWriter, r *http.Request) error {
	p, err := a.admin.GroupProgress(r.PathValue("group"), r.URL.Query().Get("topic"))
	if p == nil {
		return err
	}
	type progress struct {
		*admin.Progress
		Partial string `json:"partial,omitempty"`
	}
	out := progress{Progress: p}
	if err != nil {
		out.Partial = err.Error()
	}
	return writeJSON(w, http.StatusOK, out)
}

// groupConnections lists a group's online members; a group with none is
// an empty listing, not an error.
func (a *API) groupConnections(w http.ResponseWriter, r *http.Request) error {
	conns, err := a.admin.GroupConnections(r.PathValue("group"))
	if conns == nil && errors.Is(err, admin.ErrNotFound) {
		conns, err = map[string]*adminwire.ConsumerConnection{}, nil
	}
	return answer(w, conns, conns != nil, err)
}

// resetBody asks for a reset to a time ("-1h", RFC 3339, unix ms, earliest,
// latest) or to an offset; preview only reports what would move.
type resetBody struct {
	Topic     string `json:"topic"`
	Timestamp string `json:"timestamp,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	Queue     *int   `json:"queue,omitempty"`
	Force     *bool  `json:"force,omitempty"`
	Preview   bool   `json:"preview,omitempty"`
}

func (b *resetBody) reset(group string, now time.Time) (admin.Reset, error) {
	rs := admin.Reset{Group: group, Topic: b.Topic, Offset: -1, Queue: -1, Force: true}
	if b.Force != nil {
		rs.Force = *b.Force
	}
	if (b.Timestamp == "") == (b.Offset == nil) {
		return rs, badRequest("give exactly one of timestamp and offset")
	}
	if b.Queue != nil {
		rs.Queue = *b.Queue
	}
	if b.Offset != nil {
		if *b.Offset < 0 {
			return rs, badRequest("offset must be >= 0")
		}
		rs.Offset = *b.Offset
		return rs, nil
	}
	ts, err := admin.ParseWhen(b.Timestamp, now)
	rs.Timestamp = ts
	return rs, err
}

func (a *API) resetOffsets(w http.ResponseWriter, r *http.Request) error {
	var body resetBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	rs, err := body.reset(r.PathValue("group"), time.Now())
	if err != nil {
		return err
	}
	if body.Preview {
		rows, err := a.admin.PreviewReset(rs)
		return answer(w, rows, rows != nil, err)
	}
	rows, err := a.admin.ResetOffsets(rs)
	a.fetch.forgetGroup(rs.Group)
	return answer(w, rows, rows != nil, err)
}

func queryInt(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, badRequest("query parameter %s=%q: want an integer within %d..%d", name, s, lo, hi)
	}
	return v, nil
}
