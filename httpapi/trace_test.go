package httpapi

import (
	"strings"
	"testing"
)

// goClientTrace is a trace body as rocketmq-client-go v2.1.2 writes it.
func goClientTrace(msgID string) string {
	pub := strings.Join([]string{"Pub", "1700000000000", "DefaultRegion", "pg", "Orders", msgID, "tagA", "k1",
		"127.0.0.1:10911", "5", "3", "0", "7F000001000000000000000000000010", "true", "10.0.0.1"}, "\x01") + "\x02"
	before := strings.Join([]string{"SubBefore", "1700000000100", "DefaultRegion", "cg", "req-1", msgID, "0", "null",
		"10.0.0.2"}, "\x01") + "\x02"
	after := strings.Join([]string{"SubAfter", "req-1", msgID, "12", "true", "null", "0", "1700000000112", "cg"},
		"\x01") + "\x02"
	return pub + before + after
}

func TestParseTraceRecords(t *testing.T) {
	body := goClientTrace("AB01") + "Bogus\x01x\x02" + "Pub\x01short\x02"
	events, skipped := ParseTraceRecords([]byte(body))
	if skipped != 2 || len(events) != 3 {
		t.Fatalf("events %d skipped %d, want 3 and 2", len(events), skipped)
	}
	pub := events[0]
	if pub.Type != tracePub || pub.Group != "pg" || pub.Topic != "Orders" || pub.CostMs != 3 || !pub.Success ||
		pub.StoreHost != "127.0.0.1:10911" || pub.ClientHost != "10.0.0.1" || pub.BodyLength != 5 {
		t.Fatalf("pub: %+v", pub)
	}
	cons := consumptions(events, "AB01")
	if len(cons) != 1 || cons[0].Group != "cg" || cons[0].Result != "success" || cons[0].CostMs != 12 ||
		cons[0].StartedAt != 1700000000100 || cons[0].ClientHost != "10.0.0.2" {
		t.Fatalf("consumptions: %+v", cons)
	}
	if len(consumptions(events, "other")) != 0 {
		t.Fatal("consumptions of another id")
	}
}

func FuzzParseTraceRecords(f *testing.F) {
	f.Add([]byte(goClientTrace("AB01")))
	f.Add([]byte("SubAfter\x01r\x01m\x01x\x01true\x01null\x02"))
	f.Add([]byte("\x02\x02\x01"))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, skipped := ParseTraceRecords(body)
		if skipped < 0 || len(events) > len(body) {
			t.Fatalf("%d events, %d skipped from %d bytes", len(events), skipped, len(body))
		}
		for _, e := range events {
			if traceMinFields[e.Type] == 0 {
				t.Fatalf("event of unknown type %q", e.Type)
			}
		}
		_ = consumptions(events, "m")
	})
}
