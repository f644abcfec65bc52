package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// housekeeper is the control-plane actor that owns the broker's periodic
// duties: expiring silent consumer and producer channels (and telling the
// groups), and persisting consumer offsets. It runs under a one-for-one
// supervisor that restarts it after a panic; its state lives in the
// broker's tables, so a restart loses nothing.
type housekeeper struct {
	broker      *Broker
	lastOffsets time.Time
	lastExpiry  time.Time
	unexpected  *atomic.Int64
}

const (
	housekeepInterval     = time.Second
	offsetPersistInterval = 5 * time.Second
	expiryScanInterval    = 10 * time.Second
)

func (h *housekeeper) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started, *actor.Restarting, *actor.Stopping, *actor.Stopped:
	case *housekeepTick:
		h.tick(time.Now())
	default:
		h.unexpected.Add(1)
	}
}

func (h *housekeeper) tick(now time.Time) {
	b := h.broker
	if now.Sub(h.lastExpiry) >= expiryScanInterval {
		h.lastExpiry = now
		if changed := b.groups.expire(now); len(changed) > 0 {
			b.log.Info("actors: expired silent consumers", "groups", changed)
			b.notifyGroups(changed)
		}
	}
	if now.Sub(h.lastOffsets) >= offsetPersistInterval {
		h.lastOffsets = now
		if err := b.offsets.persist(); err != nil {
			b.log.Error("actors: persist consumer offsets", "err", err)
		}
	}
}

// controlPlane is the supervisor of the broker's control-plane actors:
// the housekeeper, the timer actor and the transaction actor. A child that
// panics is restarted by its one-for-one strategy and reloads its state
// from what the broker persisted (offset table, store).
type controlPlane struct {
	broker     *Broker
	children   map[string]*actor.PID
	unexpected *atomic.Int64
	// ticks sends the children their periodic ticks; it stops before the
	// children do, so a stopping broker sends no dead letters.
	ticks *ticker
}

func (c *controlPlane) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		c.spawnChildren(ctx)
	case *actor.Restarting, *actor.Stopping:
		c.cancelTicks()
	case *actor.Stopped, *actor.Terminated:
	default:
		c.unexpected.Add(1)
	}
}

func (c *controlPlane) cancelTicks() {
	if c.ticks != nil {
		c.ticks.stop()
		c.ticks = nil
	}
}

// ticker sends periodic messages to actors from one goroutine per period.
// (protoactor's TimerScheduler reads its cancel flag without
// synchronisation, which the race detector reports.)
type ticker struct {
	done chan struct{}
	wg   sync.WaitGroup
}

// tick is one periodic message.
type tick struct {
	every time.Duration
	to    *actor.PID
	msg   any
}

func startTicker(root *actor.RootContext, ticks ...tick) *ticker {
	t := &ticker{done: make(chan struct{})}
	for _, k := range ticks {
		t.wg.Go(func() {
			tk := time.NewTicker(k.every)
			defer tk.Stop()
			for {
				select {
				case <-t.done:
					return
				case <-tk.C:
					root.Send(k.to, k.msg)
				}
			}
		})
	}
	return t
}

// stop ends the ticks and waits until none can be sent any more.
func (t *ticker) stop() {
	close(t.done)
	t.wg.Wait()
}

func (c *controlPlane) spawnChildren(ctx actor.Context) {
	b := c.broker
	spawn := func(name string, producer actor.Producer) *actor.PID {
		pid, err := ctx.SpawnNamed(actor.PropsFromProducer(producer), name)
		if err != nil {
			b.log.Error("actors: spawn control-plane actor", "actor", name, "err", err)
		}
		c.children[name] = pid
		return pid
	}
	b.keeper = spawn("housekeeper", func() actor.Actor {
		return &housekeeper{broker: b, lastOffsets: time.Now(), lastExpiry: time.Now(), unexpected: c.unexpected}
	})
	timers := spawn("timers", func() actor.Actor { return &timerActor{svc: b.timers} })
	txns := spawn("transactions", func() actor.Actor { return &txnActor{svc: b.txns} })
	c.cancelTicks() // a restart spawns the children again
	c.ticks = startTicker(ctx.ActorSystem().Root,
		tick{every: housekeepInterval, to: b.keeper, msg: &housekeepTick{}},
		tick{every: timerTickInterval, to: timers, msg: &timerTick{}},
		tick{every: txnTickInterval, to: txns, msg: &txnTick{}})
	b.ctl.Store(&controlHandles{root: ctx.ActorSystem().Root, timers: timers, txns: txns})
}

// controlHandles reach the control-plane actors from other goroutines
// (event loops, the writer). Published once the actors run; nil before.
type controlHandles struct {
	root   *actor.RootContext
	timers *actor.PID
	txns   *actor.PID
}

// sendTimers and sendTxns deliver a message to the actor; false while the
// control plane is not running.
func (b *Broker) sendTimers(msg any) bool {
	return b.sendControl(msg, func(h *controlHandles) *actor.PID { return h.timers })
}

func (b *Broker) sendTxns(msg any) bool {
	return b.sendControl(msg, func(h *controlHandles) *actor.PID { return h.txns })
}

func (b *Broker) sendControl(msg any, pick func(*controlHandles) *actor.PID) bool {
	h := b.ctl.Load()
	if h == nil {
		return false
	}
	h.root.Send(pick(h), msg)
	return true
}

// startControlPlane spawns the supervisor and, through it, its children.
func (b *Broker) startControlPlane() {
	b.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(quietInfoHandler{b.log.Handler()}).With("lib", "protoactor")
	}))
	supervisor := actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider)
	ready := make(chan struct{})
	cp := &controlPlane{broker: b, children: map[string]*actor.PID{}, unexpected: &atomic.Int64{}}
	props := actor.PropsFromProducer(func() actor.Actor { return cp }, actor.WithSupervisor(supervisor),
		actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
			return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
				next(ctx, env)
				if _, ok := env.Message.(*actor.Started); ok {
					select {
					case <-ready:
					default:
						close(ready)
					}
				}
			}
		}))
	b.control = b.system.Root.Spawn(props)
	<-ready
}

// stopControlPlane stops the children (each drains its batch in flight),
// then the actor system.
func (b *Broker) stopControlPlane() error {
	err := b.system.Root.PoisonFuture(b.control).Wait()
	b.ctl.Store(nil)
	b.system.Shutdown()
	if err != nil {
		return fmt.Errorf("actors: stop control plane: %w", err)
	}
	return nil
}

// quietInfoHandler logs protoactor's info lines (the actor system started,
// its id) at debug: they say nothing an operator acts on. Warnings and
// errors, and dead letters, keep their level.
type quietInfoHandler struct{ slog.Handler }

func (h quietInfoHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = h.level(r.Level, r.Message)
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietInfoHandler) level(l slog.Level, msg string) slog.Level {
	if l == slog.LevelInfo && !strings.Contains(msg, "DeadLetter") {
		return slog.LevelDebug
	}
	return l
}

func (h quietInfoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietInfoHandler{h.Handler.WithAttrs(attrs)}
}

func (h quietInfoHandler) WithGroup(name string) slog.Handler {
	return quietInfoHandler{h.Handler.WithGroup(name)}
}
