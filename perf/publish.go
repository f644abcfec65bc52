package perf

import (
	"context"
	"sync"
	"time"
)

// publish runs every producer from start until its share of Count is sent
// (or Duration has passed) and every send has completed.
func (r *run) publish(ctx context.Context, pubs []Publisher, start time.Time) {
	var wg sync.WaitGroup
	for id, p := range pubs {
		wg.Go(func() { r.produce(ctx, id, p, start) })
	}
	wg.Wait()
}

// share is the messages producer id sends in count mode.
func (r *run) share(id int) int64 {
	n := r.w.Count / int64(r.w.Producers)
	if int64(id) < r.w.Count%int64(r.w.Producers) {
		n++
	}
	return n
}

func (r *run) produce(ctx context.Context, id int, p Publisher, start time.Time) {
	if sleepContext(ctx, time.Until(start)) != nil {
		return
	}
	opSize := r.w.opSize()
	pacer := NewPacer(NewSchedule(start, r.w.Rate/float64(opSize), id, r.w.Producers))
	deadline := start.Add(r.w.Duration)
	remaining := r.share(id)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for i := int64(0); ; i++ {
		n := opSize
		if r.w.Count > 0 {
			if remaining <= 0 {
				return
			}
			n = int(min(int64(n), remaining))
			remaining -= int64(n)
		}
		intended, err := pacer.Wait(ctx, i)
		if err != nil || (r.w.Count == 0 && !intended.Before(deadline)) {
			return
		}
		topic := r.topics[(id+int(i))%len(r.topics)]
		r.sendOp(ctx, p, r.sendRec[id], topic, n, intended, &inflight)
	}
}

func (r *run) sendOp(ctx context.Context, p Publisher, rec *Recorder, topic string, n int, intended time.Time, inflight *sync.WaitGroup) {
	r.sent.Add(int64(n))
	switch r.w.Mode {
	case SendSync:
		err := p.SendSync(ctx, topic, newBody(r.w.Size, intended))
		r.complete(rec, intended, 1, err)
	case SendAsync:
		inflight.Add(1)
		done := func(err error) {
			r.complete(rec, intended, 1, err)
			inflight.Done()
		}
		if err := p.SendAsync(ctx, topic, newBody(r.w.Size, intended), done); err != nil {
			done(err)
		}
	case SendBatch:
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = newBody(r.w.Size, intended)
		}
		err := p.SendBatch(ctx, topic, bodies)
		r.complete(rec, intended, int64(n), err)
	}
}

// complete records the outcome of a send of n messages due at intended.
func (r *run) complete(rec *Recorder, intended time.Time, n int64, err error) {
	now := time.Now()
	if err != nil {
		r.failed.Add(n)
		r.setErr(err)
		return
	}
	rec.RecordN(now.Sub(intended), n)
	r.acked.Add(n)
	storeMax(&r.lastAck, now.UnixNano())
}
