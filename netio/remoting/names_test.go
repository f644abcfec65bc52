package remoting

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestValidateNames(t *testing.T) {
	cases := []struct {
		name             string
		topic, group, cg bool // valid as a topic, a group, a consumer group
		wantErr          string
	}{
		{name: "Orders", topic: true, group: true, cg: true},
		{name: "%RETRY%g_1|x-y", topic: true, group: true, cg: true},
		{name: "", wantErr: "empty"},
		{name: ".", wantErr: `"."`},
		{name: "..", wantErr: `"."`},
		{name: "../../../victim", wantErr: `"."`},
		{name: "a/b", wantErr: `"/"`},
		{name: `a\b`, wantErr: `"\\"`},
		{name: "a\x00b", wantErr: `"\x00"`},
		{name: "bad topic!", wantErr: `" "`},
		{name: "caf\xc3\xa9", wantErr: `"\xc3"`},
		{name: strings.Repeat("t", MaxTopicNameLength), topic: true, group: true},
		{name: strings.Repeat("t", MaxTopicNameLength+1), group: true, wantErr: "128 characters"},
		{name: strings.Repeat("g", MaxConsumerGroupLength), topic: true, group: true, cg: true},
		{name: strings.Repeat("g", MaxGroupNameLength), group: true, wantErr: "longer than"},
		{name: strings.Repeat("g", 300), wantErr: "300 characters"},
	}
	for _, c := range cases {
		for _, v := range []struct {
			kind  string
			fn    func(string) error
			valid bool
		}{{"topic", ValidateTopic, c.topic}, {"group", ValidateGroup, c.group}, {"consumer group", ValidateConsumerGroup, c.cg}} {
			err := v.fn(c.name)
			if v.valid != (err == nil) {
				t.Errorf("%s %s: err %v, want valid=%v", v.kind, QuoteName(c.name), err, v.valid)
				continue
			}
			if err == nil {
				continue
			}
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("%s %s: %v does not wrap ErrInvalidName", v.kind, QuoteName(c.name), err)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s %s: %v does not say %q", v.kind, QuoteName(c.name), err, c.wantErr)
			}
			if len(err.Error()) > 300 {
				t.Errorf("%s: error repeats the whole name: %d bytes", v.kind, len(err.Error()))
			}
		}
	}
	if len(RetryTopic(strings.Repeat("g", MaxConsumerGroupLength))) != MaxTopicNameLength {
		t.Fatal("the longest consumer group's retry topic is not exactly the longest topic")
	}
}

func TestSystemTopicsAndGroups(t *testing.T) {
	for _, topic := range []string{"TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
		"TRANS_CHECK_MAX_TIME_TOPIC", "RMQ_SYS_TRACE_TOPIC", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "rmq_sys_anything"} {
		if !IsSystemTopic(topic) {
			t.Errorf("%s is not a system topic", topic)
		}
	}
	for _, topic := range []string{"Orders", "%RETRY%g", "BenchmarkTest"} {
		if IsSystemTopic(topic) {
			t.Errorf("%s is a system topic", topic)
		}
	}
	if !IsSystemGroup("CID_RMQ_SYS_TRANS") || IsSystemGroup("CID_orders") {
		t.Fatal("system group prefix not applied")
	}
}

var nameRule = regexp.MustCompile(`^[%|a-zA-Z0-9_-]+$`)

// FuzzValidateNames checks the validators against the rule's regular
// expression and that nothing they accept can leave a directory.
func FuzzValidateNames(f *testing.F) {
	for _, s := range []string{"", ".", "..", "../../x", "Orders", "%DLQ%g", "a\x00", strings.Repeat("x", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, v := range []struct {
			fn     func(string) error
			maxLen int
		}{{ValidateTopic, MaxTopicNameLength}, {ValidateGroup, MaxGroupNameLength}, {ValidateConsumerGroup, MaxConsumerGroupLength}} {
			err := v.fn(name)
			want := nameRule.MatchString(name) && len(name) <= v.maxLen
			if want != (err == nil) {
				t.Fatalf("%q: err %v, rule says valid=%v", name, err, want)
			}
			if err == nil && (strings.ContainsAny(name, "./\\\x00") || name == "") {
				t.Fatalf("%q accepted but could name a path outside a directory", name)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("%q: %v does not wrap ErrInvalidName", name, err)
			}
		}
	})
}
