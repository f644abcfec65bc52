package remoting

import (
	"testing"
)

func sendRequest() *Command {
	cmd := NewRequest(RequestSendMessage)
	for _, f := range goClientSendExt {
		cmd.Ext.Set(f.Key, f.Value)
	}
	cmd.Body = make([]byte, 1024)
	return cmd
}

func pullRequest() *Command {
	cmd := NewRequest(RequestPullMessage)
	h := PullHeader{ConsumerGroup: "cg", Topic: "T", QueueID: 3, QueueOffset: 100, MaxMsgNums: 32, SysFlag: 3,
		CommitOffset: 90, SuspendTimeoutMillis: 20000, ExpressionType: "TAG"}
	h.Apply(cmd)
	return cmd
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		cmd  *Command
	}{
		{"request=send/encoding=json", sendRequest()},
		{"request=pull/encoding=json", pullRequest()},
		{"request=send/encoding=binary", withSerialize(sendRequest(), SerializeRocketMQ)},
		{"request=pull/encoding=binary", withSerialize(pullRequest(), SerializeRocketMQ)},
	} {
		frame := AppendFrame(nil, bc.cmd)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			var cmd Command
			for b.Loop() {
				if err := Decode(frame, &cmd); err != nil {
					b.Fatal(err)
				}
			}
			if cmd.Code != bc.cmd.Code || cmd.Ext.Len() != bc.cmd.Ext.Len() {
				b.Fatal("decoded the wrong command")
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, bc := range []struct {
		name string
		cmd  *Command
	}{
		{"request=send/encoding=json", sendRequest()},
		{"request=pull/encoding=json", pullRequest()},
		{"request=send/encoding=binary", withSerialize(sendRequest(), SerializeRocketMQ)},
		{"request=pull/encoding=binary", withSerialize(pullRequest(), SerializeRocketMQ)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := AppendFrame(nil, bc.cmd)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendFrame(buf[:0], bc.cmd)
			}
			if n, err := FrameSize(buf, 0); err != nil || n != len(buf) {
				b.Fatal("bad frame")
			}
		})
	}
}

func BenchmarkFrameSize(b *testing.B) {
	frame := AppendFrame(nil, sendRequest())
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := FrameSize(frame, DefaultMaxFrameSize); n != len(frame) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkExtLookup(b *testing.B) {
	var cmd Command
	if err := Decode(AppendFrame(nil, sendRequest()), &cmd); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, ok := cmd.Ext.Get(ExtDefaultTopicQueueNums); !ok || v != "4" {
			b.Fatal(v)
		}
	}
}

func withSerialize(cmd *Command, serializeType byte) *Command {
	cmd.SerializeType = serializeType
	return cmd
}

func TestHotPathAllocations(t *testing.T) {
	frame := AppendFrame(nil, sendRequest())
	var cmd Command
	_ = Decode(frame, &cmd)
	if a := testing.AllocsPerRun(50, func() { _, _ = FrameSize(frame, 0) }); a != 0 {
		t.Errorf("FrameSize: %v allocs", a)
	}
	if a := testing.AllocsPerRun(50, func() { _, _ = cmd.Ext.Get(ExtTopic) }); a != 0 {
		t.Errorf("Ext.Get: %v allocs", a)
	}
	if a := testing.AllocsPerRun(50, func() { _ = Decode(frame, &cmd) }); a > 1 {
		t.Errorf("Decode of a reused command: %v allocs, want at most 1", a)
	}
	buf := make([]byte, 0, 4096)
	if a := testing.AllocsPerRun(50, func() { buf = AppendFrame(buf[:0], &cmd) }); a != 0 {
		t.Errorf("AppendFrame: %v allocs", a)
	}
}
