package httpapi

import (
	"sync"
	"time"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/routing"
)

// routeCache keeps topic routes for a short while, so a burst of sends or
// fetches asks the name server once. A missing topic is not cached.
type routeCache struct {
	admin *admin.Client
	ttl   time.Duration
	mu    struct {
		sync.Mutex
		routes map[string]cachedRoute
	}
}

type cachedRoute struct {
	route *routing.TopicRouteData
	at    time.Time
}

// maxCachedRoutes bounds the cache; past it, the cache starts over.
const maxCachedRoutes = 4096

func newRouteCache(a *admin.Client, ttl time.Duration) *routeCache {
	c := &routeCache{admin: a, ttl: ttl}
	c.mu.routes = map[string]cachedRoute{}
	return c
}

// get returns topic's route (admin.ErrNotFound when it has none).
func (c *routeCache) get(topic string) (*routing.TopicRouteData, error) {
	now := time.Now()
	c.mu.Lock()
	cr, ok := c.mu.routes[topic]
	c.mu.Unlock()
	if ok && now.Sub(cr.at) < c.ttl {
		return cr.route, nil
	}
	r, err := c.admin.Route(topic)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.mu.routes) >= maxCachedRoutes {
		c.mu.routes = map[string]cachedRoute{}
	}
	c.mu.routes[topic] = cachedRoute{r, now}
	c.mu.Unlock()
	return r, nil
}

// forget drops topic's route (after the topic changed).
func (c *routeCache) forget(topic string) {
	c.mu.Lock()
	delete(c.mu.routes, topic)
	c.mu.Unlock()
}
