package namesrv

import (
	"slices"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

// TestTopicRequestsCheckNames: the name server answers route and delete
// requests for names that break the rule with TOPIC_NOT_EXIST, refuses to
// delete system topics, and leaves topics with such names out of a
// registration.
func TestTopicRequestsCheckNames(t *testing.T) {
	n, _ := newTestNamesrv(t)
	spec := brokerA
	spec.topics = append(slices.Clone(spec.topics), topicConfig("../../../victim", 1, 6), topicConfig("has space", 1, 6))
	mustRegister(t, n, "b:1", spec)
	for _, topic := range []string{"", "..", "../../../victim", "has space"} {
		if code := routeCode(n, topic); code != remoting.ResponseTopicNotExist {
			t.Errorf("route of %q: code %d", topic, code)
		}
		del := remoting.NewRequest(remoting.RequestDeleteTopicInNameSrv)
		del.Ext.Set("topic", topic)
		if resp := n.Handle("admin:1", del); resp.Code != remoting.ResponseTopicNotExist {
			t.Errorf("delete of %q: code %d %s", topic, resp.Code, resp.Remark)
		}
	}
	if slices.Contains(n.Topics(), "../../../victim") || slices.Contains(n.Topics(), "has space") {
		t.Fatalf("topics with invalid names registered: %v", n.Topics())
	}
	del := remoting.NewRequest(remoting.RequestDeleteTopicInNameSrv)
	del.Ext.Set("topic", remoting.AutoCreateTopicKey)
	if resp := n.Handle("admin:1", del); resp.Code != remoting.ResponseNoPermission {
		t.Fatalf("delete of %s: code %d %s", remoting.AutoCreateTopicKey, resp.Code, resp.Remark)
	}
	if code := routeCode(n, remoting.AutoCreateTopicKey); code != remoting.ResponseSuccess {
		t.Fatalf("%s lost: code %d", remoting.AutoCreateTopicKey, code)
	}
	if code := routeCode(n, "T"); code != remoting.ResponseSuccess {
		t.Fatalf("T lost: code %d", code)
	}
}
