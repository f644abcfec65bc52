package actors

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
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

// startControlPlane spawns the supervised control-plane actors.
func (b *Broker) startControlPlane() {
	b.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return b.log.With("lib", "protoactor")
	}))
	unexpected := &atomic.Int64{}
	supervisor := actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider)
	props := actor.PropsFromProducer(func() actor.Actor {
		return &housekeeper{broker: b, lastOffsets: time.Now(), lastExpiry: time.Now(), unexpected: unexpected}
	}, actor.WithSupervisor(supervisor))
	b.keeper = b.system.Root.Spawn(props)
	scheduler.NewTimerScheduler(b.system.Root).SendRepeatedly(housekeepInterval, housekeepInterval, b.keeper, &housekeepTick{})
}
