package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// Consuming over HTTP. A fetch reads a topic as a consumer group from the
// group's cursors in this process; a commit stores offsets on the brokers.
// A cursor starts at the group's committed offset (the queue's first
// offset when there is none) and moves past what each fetch returned, so
// the clients of one group share the messages between them; a cursor
// untouched for cursorIdle is dropped, and the next fetch starts again
// from the committed offsets: whatever was fetched and not committed is
// delivered again (at least once).
const (
	cursorIdle     = time.Minute
	maxFetchWait   = 20 * time.Second
	maxFetchMsgs   = 256
	maxCursorsKept = 4096
)

// queueRef names one queue of a topic on one broker.
type queueRef struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
}

// queueOffset is a queue and an offset: the next offset to consume.
type queueOffset struct {
	queueRef
	Offset int64 `json:"offset"`
}

// fetcher holds the cursors of every group and topic fetched here.
type fetcher struct {
	admin  *admin.Client
	routes *routeCache
	slots  chan struct{} // one per fetch that may wait at once
	mu     struct {
		sync.Mutex
		cursors map[string]*cursorSet
	}
}

// cursorSet is one group's read position on one topic. Its mutex is held
// for a whole fetch: one fetch at a time per group and topic.
type cursorSet struct {
	mu      sync.Mutex
	next    map[queueRef]int64
	used    time.Time
	rotator int
}

func newFetcher(a *admin.Client, routes *routeCache, maxWaiting int) *fetcher {
	f := &fetcher{admin: a, routes: routes, slots: make(chan struct{}, maxWaiting)}
	f.mu.cursors = map[string]*cursorSet{}
	return f
}

// cursors returns the set of group on topic, dropping idle ones.
func (f *fetcher) cursors(group, topic string, now time.Time) *cursorSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, cs := range f.mu.cursors {
		if cs.mu.TryLock() {
			if now.Sub(cs.used) > cursorIdle || len(f.mu.cursors) > maxCursorsKept {
				delete(f.mu.cursors, k)
			}
			cs.mu.Unlock()
		}
	}
	key := group + "\x00" + topic
	cs := f.mu.cursors[key]
	if cs == nil {
		cs = &cursorSet{next: map[queueRef]int64{}, used: now}
		f.mu.cursors[key] = cs
	}
	return cs
}

// forgetGroup drops every cursor of group (after its offsets were reset),
// so its next fetch starts from the committed offsets.
func (f *fetcher) forgetGroup(group string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.mu.cursors {
		if g, _, _ := strings.Cut(k, "\x00"); g == group {
			delete(f.mu.cursors, k)
		}
	}
}

// readQueue is a queue and the master that serves it.
type readQueue struct {
	ref  queueRef
	addr string
}

func readQueues(topic string, r *routing.TopicRouteData) []readQueue {
	masters := map[string]string{}
	for _, bd := range r.BrokerDatas {
		if addr, ok := bd.BrokerAddrs[routing.MasterID]; ok {
			masters[bd.BrokerName] = addr
		}
	}
	var out []readQueue
	for _, qd := range r.QueueDatas {
		addr, ok := masters[qd.BrokerName]
		if !ok || qd.Perm&remoting.PermRead == 0 {
			continue
		}
		for q := range qd.ReadQueueNums {
			out = append(out, readQueue{queueRef{topic, qd.BrokerName, q}, addr})
		}
	}
	slices.SortFunc(out, func(a, b readQueue) int {
		if a.ref.BrokerName != b.ref.BrokerName {
			return cmpString(a.ref.BrokerName, b.ref.BrokerName)
		}
		return int(a.ref.QueueID - b.ref.QueueID)
	})
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fetchBody is a fetch request (part of the format).
type fetchBody struct {
	Topic  string `json:"topic"`
	Max    int    `json:"max,omitempty"`    // most messages, 1..256 (default 32)
	WaitMs int64  `json:"waitMs,omitempty"` // long poll when nothing is there, 0..20000
	Tag    string `json:"tag,omitempty"`    // tag expression, default "*"
}

// fetchAnswer is what a fetch returns: the messages and, per queue they
// came from, the offset to commit once they are handled.
type fetchAnswer struct {
	Messages []admin.Message `json:"messages"`
	Commit   []queueOffset   `json:"commit"`
}

func (b *fetchBody) check() error {
	if b.Max == 0 {
		b.Max = 32
	}
	if b.Max < 1 || b.Max > maxFetchMsgs {
		return badRequest("max must be within 1..%d", maxFetchMsgs)
	}
	if b.WaitMs < 0 || b.WaitMs > maxFetchWait.Milliseconds() {
		return badRequest("waitMs must be within 0..%d", maxFetchWait.Milliseconds())
	}
	if err := remoting.ValidateTopic(b.Topic); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

func (a *API) fetchMessages(w http.ResponseWriter, r *http.Request) error {
	var body fetchBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if err := body.check(); err != nil {
		return err
	}
	group := r.PathValue("group")
	if err := remoting.ValidateConsumerGroup(group); err != nil {
		return badRequest("%v", err)
	}
	route, err := a.routes.get(body.Topic)
	if err != nil {
		return err
	}
	queues := readQueues(body.Topic, route)
	if len(queues) == 0 {
		return fmt.Errorf("%w: topic %s has no readable queue", admin.ErrNotFound, body.Topic)
	}
	ans, err := a.fetch.fetch(r.Context(), group, &body, queues)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ans)
}

// fetch reads up to body.Max messages: a quick pass over every queue, then,
// when nothing was there and the caller waits, a long poll of every queue
// that answers with the first queue that has messages.
func (f *fetcher) fetch(ctx context.Context, group string, body *fetchBody, queues []readQueue) (*fetchAnswer, error) {
	cs := f.cursors(group, body.Topic, time.Now())
	cs.mu.Lock()
	defer func() { cs.used = time.Now(); cs.mu.Unlock() }()
	ans := &fetchAnswer{Messages: []admin.Message{}, Commit: []queueOffset{}}
	cs.rotator++
	for i := range queues {
		q := queues[(i+cs.rotator)%len(queues)]
		if len(ans.Messages) >= body.Max {
			break
		}
		if err := f.pullInto(ans, cs, group, body, q, 0); err != nil {
			return nil, err
		}
	}
	if len(ans.Messages) > 0 || body.WaitMs == 0 {
		return ans, nil
	}
	return f.longPoll(ctx, ans, cs, group, body, queues)
}

// start returns the cursor of q, reading the committed offset first.
func (f *fetcher) start(cs *cursorSet, group string, q readQueue) (int64, error) {
	if off, ok := cs.next[q.ref]; ok {
		return off, nil
	}
	off, found, err := f.admin.CommittedOffset(q.addr, group, q.ref.Topic, q.ref.QueueID)
	if err != nil {
		return 0, err
	}
	if !found {
		off = 0 // the pull's offset-moved answer takes it to the first stored
	}
	cs.next[q.ref] = off
	return off, nil
}

// pullInto pulls q once and appends what it found.
func (f *fetcher) pullInto(ans *fetchAnswer, cs *cursorSet, group string, body *fetchBody, q readQueue, wait time.Duration) error {
	from, err := f.start(cs, group, q)
	if err != nil {
		return err
	}
	res, err := f.admin.Pull(q.addr, admin.PullSpec{Group: group, Topic: q.ref.Topic, QueueID: q.ref.QueueID,
		Offset: from, Max: int32(body.Max - len(ans.Messages)), Tag: body.Tag, Suspend: wait})
	if err != nil {
		return err
	}
	f.take(ans, cs, q, from, res)
	return nil
}

// take applies one pull's result to the cursor and the answer.
func (f *fetcher) take(ans *fetchAnswer, cs *cursorSet, q readQueue, from int64, res admin.Pulled) {
	if cs.next[q.ref] != from {
		return // a newer result moved the cursor already
	}
	for i := range res.Messages {
		res.Messages[i].BrokerName = q.ref.BrokerName
	}
	ans.Messages = append(ans.Messages, res.Messages...)
	cs.next[q.ref] = res.NextOffset
	if len(res.Messages) > 0 {
		ans.Commit = append(ans.Commit, queueOffset{q.ref, res.NextOffset})
	}
}

type polled struct {
	q    readQueue
	from int64
	res  admin.Pulled
	err  error
}

// longPoll parks a pull on every queue and answers with what the first
// queue to have messages returned (and any others already back). The
// pulls left parked finish on their own; their results are dropped and
// their messages fetched again later. Each fetch that waits takes a slot.
func (f *fetcher) longPoll(ctx context.Context, ans *fetchAnswer, cs *cursorSet, group string, body *fetchBody, queues []readQueue) (*fetchAnswer, error) {
	select {
	case f.slots <- struct{}{}:
	default:
		return nil, fmt.Errorf("%w: %d fetches are waiting already", ErrBusy, cap(f.slots))
	}
	wait := time.Duration(body.WaitMs) * time.Millisecond
	results := make(chan polled, len(queues))
	var wg sync.WaitGroup
	for _, q := range queues {
		from := cs.next[q.ref]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.admin.Pull(q.addr, admin.PullSpec{Group: group, Topic: q.ref.Topic, QueueID: q.ref.QueueID,
				Offset: from, Max: int32(body.Max), Tag: body.Tag, Suspend: wait})
			results <- polled{q, from, res, err}
		}()
	}
	go func() { wg.Wait(); <-f.slots }()
	timer := time.NewTimer(wait + time.Second)
	defer timer.Stop()
	for pending := len(queues); pending > 0; pending-- {
		select {
		case p := <-results:
			if p.err == nil {
				f.take(ans, cs, p.q, p.from, p.res)
			}
			if len(ans.Messages) > 0 {
				return f.drain(ans, cs, results), nil
			}
		case <-timer.C:
			return ans, nil
		case <-ctx.Done():
			return ans, nil
		}
	}
	return ans, nil
}

// drain takes the results that are already back, up to the answer's size.
func (f *fetcher) drain(ans *fetchAnswer, cs *cursorSet, results chan polled) *fetchAnswer {
	for {
		select {
		case p := <-results:
			if p.err == nil && len(ans.Messages)+len(p.res.Messages) <= maxFetchMsgs {
				f.take(ans, cs, p.q, p.from, p.res)
			}
		default:
			return ans
		}
	}
}

// commitBody commits offsets (part of the format).
type commitBody struct {
	Offsets []queueOffset `json:"offsets"`
}

func (a *API) commitOffsets(w http.ResponseWriter, r *http.Request) error {
	var body commitBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	group := r.PathValue("group")
	if err := remoting.ValidateConsumerGroup(group); err != nil {
		return badRequest("%v", err)
	}
	if len(body.Offsets) == 0 || len(body.Offsets) > 4096 {
		return badRequest("offsets: want 1..4096 entries")
	}
	for _, o := range body.Offsets {
		addr, err := a.queueAddr(o.queueRef)
		if err != nil {
			return err
		}
		if err := a.admin.CommitOffset(addr, group, o.Topic, o.QueueID, o.Offset); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, map[string]int{"committed": len(body.Offsets)})
}

// queueAddr finds the master serving a queue.
func (a *API) queueAddr(q queueRef) (string, error) {
	if err := remoting.ValidateTopic(q.Topic); err != nil {
		return "", badRequest("%v", err)
	}
	route, err := a.routes.get(q.Topic)
	if err != nil {
		return "", err
	}
	for _, rq := range readQueues(q.Topic, route) {
		if rq.ref == q {
			return rq.addr, nil
		}
	}
	return "", fmt.Errorf("%w: topic %s has no queue %d on broker %s", admin.ErrNotFound, q.Topic, q.QueueID, q.BrokerName)
}
