package remoting

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// goClientRouteQuery is the exact header the Go client v2.1.2 sends for
// GET_ROUTEINFO_BY_TOPIC (a JSON header).
const goClientRouteQuery = `{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"T1"}}`

func jsonFrame(header string, body []byte) []byte {
	frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)+len(body)))
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(header)))
	frame = append(frame, header...)
	return append(frame, body...)
}

func mustDecode(t testing.TB, frame []byte) *Command {
	t.Helper()
	var cmd Command
	if err := Decode(frame, &cmd); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return &cmd
}

func sameCommand(a, b *Command) bool {
	if a.Code != b.Code || a.Language != b.Language || a.Version != b.Version ||
		a.Opaque != b.Opaque || a.Flag != b.Flag || a.Remark != b.Remark ||
		a.SerializeType != b.SerializeType || !bytes.Equal(a.Body, b.Body) {
		return false
	}
	if len(a.Ext.Fields) != len(b.Ext.Fields) {
		return false
	}
	return len(a.Ext.Fields) == 0 || reflect.DeepEqual(a.Ext.Fields, b.Ext.Fields)
}

func TestGoldenGoClientRequest(t *testing.T) {
	cmd := mustDecode(t, jsonFrame(goClientRouteQuery, nil))
	if cmd.Code != RequestGetRouteInfoByTopic || cmd.Language != LanguageGo || cmd.Version != 317 ||
		cmd.Opaque != 1 || cmd.Flag != 0 || cmd.Remark != "" || cmd.Body != nil {
		t.Fatalf("decoded %+v", cmd)
	}
	if v, _ := cmd.Ext.Get("topic"); v != "T1" {
		t.Fatalf("topic = %q", v)
	}
	req := NewRequest(RequestGetRouteInfoByTopic)
	req.Opaque = 1
	req.Ext.Set("topic", "T1")
	if got := AppendFrame(nil, req); !bytes.Equal(got, jsonFrame(goClientRouteQuery, nil)) {
		t.Fatalf("encoded\n%q\nwant\n%q", got, jsonFrame(goClientRouteQuery, nil))
	}
}

func TestDecodeJavaResponse(t *testing.T) {
	header := `{"code":0,"extFields":{"queueId":"1","msgId":"C0A8000100002A9F0000000000000000","queueOffset":"0"},` +
		`"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":409}`
	cmd := mustDecode(t, jsonFrame(header, []byte("payload")))
	if !cmd.IsResponse() || cmd.Language != LanguageJava || cmd.Version != 409 || cmd.Opaque != 3 {
		t.Fatalf("decoded %+v", cmd)
	}
	if off, err := cmd.ExtInt64("queueOffset"); err != nil || off != 0 {
		t.Fatalf("queueOffset = %d, %v", off, err)
	}
	if string(cmd.Body) != "payload" {
		t.Fatalf("body %q", cmd.Body)
	}
}

func TestJSONHeaderEdgeCases(t *testing.T) {
	cases := []struct {
		name   string
		header string
		check  func(*Command) bool
	}{
		{"whitespace", " {\n\t\"code\" : 17 ,\r\n \"extFields\" : { \"k\" : \"v\" } } ",
			func(c *Command) bool { v, _ := c.Ext.Get("k"); return c.Code == 17 && v == "v" }},
		{"escapes", `{"remark":"a\"b\\c\/d\b\f\n\r\t\u0001\u003c"}`,
			func(c *Command) bool { return c.Remark == "a\"b\\c/d\b\f\n\r\t\x01<" }},
		{"surrogate pair", `{"remark":"\ud83d\ude00"}`,
			func(c *Command) bool { return c.Remark == "\U0001F600" }},
		{"lone surrogate", `{"remark":"x\ud83dy\ude00"}`,
			func(c *Command) bool { return c.Remark == "x\uFFFDy\uFFFD" }},
		{"invalid utf8", "{\"remark\":\"a\xffb\"}",
			func(c *Command) bool { return c.Remark == "a\uFFFDb" }},
		{"nulls", `{"code":null,"remark":null,"language":null,"extFields":{"a":null}}`,
			func(c *Command) bool { v, ok := c.Ext.Get("a"); return c.Code == 0 && ok && v == "" }},
		{"null ext", `{"extFields":null}`, func(c *Command) bool { return c.Ext.Len() == 0 }},
		{"language number", `{"language":9}`, func(c *Command) bool { return c.Language == LanguageGo }},
		{"language unknown name", `{"language":"COBOL"}`, func(c *Command) bool { return c.Language == LanguageOther }},
		{"unknown nested", `{"x":{"y":[1,2.5e3,true,false,null,{"z":"w"}]},"code":2}`,
			func(c *Command) bool { return c.Code == 2 }},
		{"case-insensitive key", `{"Code":12,"OPAQUE":5}`,
			func(c *Command) bool { return c.Code == 12 && c.Opaque == 5 }},
		{"duplicate ext", `{"extFields":{"a":"1","b":"2","a":"3"}}`,
			func(c *Command) bool {
				return reflect.DeepEqual(c.Ext.Fields, []Field{{"a", "3"}, {"b", "2"}})
			}},
		{"negative", `{"code":-1,"opaque":-2147483648}`,
			func(c *Command) bool { return c.Code == -1 && c.Opaque == -2147483648 }},
		{"unknown ext key", `{"extFields":{"someKey\u0041":"v"}}`,
			func(c *Command) bool { v, _ := c.Ext.Get("someKeyA"); return v == "v" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := mustDecode(t, jsonFrame(tc.header, nil))
			if !tc.check(cmd) {
				t.Fatalf("unexpected decode: %+v", cmd)
			}
		})
	}
}

func TestJSONHeaderRejects(t *testing.T) {
	bad := []string{
		``, `[]`, `{`, `{"code":1`, `{"code":1}x`, `{"code":"0"}`, `{"code":1.0}`, `{"code":1e2}`,
		`{"code":40000}`, `{"code":01}`, `{"opaque":2147483648}`, `{"extFields":{"offset":12}}`,
		`{"extFields":{"b":true}}`, `{"extFields":[]}`, `{"remark":"\x"}`, `{"remark":"\u12"}`,
		"{\"remark\":\"a\nb\"}", `{"language":300}`, `{'code':1}`, `{"code":1,}`, `{"x":tru}`,
		`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	}
	for _, h := range bad {
		var cmd Command
		err := Decode(jsonFrame(h, nil), &cmd)
		if !errors.Is(err, ErrMalformedHeader) {
			t.Errorf("header %q: err = %v, want ErrMalformedHeader", h, err)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "TAGS\x01x\x02KEYS\x01a b\x02", `q"\`, "<a&b>", "\u2028\u2029",
		"\x7f", "é日本\U0001F600", "bad\xffutf8\xc3", "\n\r\t\b\f"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s want %s", s, got, want)
		}
	}
}

func TestEncodedJSONHeaderDecodesWithEncodingJSON(t *testing.T) {
	cmd := sampleCommand(SerializeJSON)
	frame := AppendFrame(nil, cmd)
	header := frame[8 : 8+int(binary.BigEndian.Uint32(frame[4:])&0xFFFFFF)]
	var std struct {
		Code      int16             `json:"code"`
		Language  string            `json:"language"`
		Version   int16             `json:"version"`
		Opaque    int32             `json:"opaque"`
		Flag      int32             `json:"flag"`
		Remark    string            `json:"remark"`
		ExtFields map[string]string `json:"extFields"`
	}
	if err := json.Unmarshal(header, &std); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if std.Code != cmd.Code || std.Language != "GO" || std.Opaque != cmd.Opaque || std.Remark != cmd.Remark ||
		std.Flag != cmd.Flag || std.Version != cmd.Version || len(std.ExtFields) != cmd.Ext.Len() {
		t.Fatalf("encoding/json saw %+v", std)
	}
	for _, f := range cmd.Ext.Fields {
		if std.ExtFields[f.Key] != f.Value {
			t.Fatalf("ext %s = %q, want %q", f.Key, std.ExtFields[f.Key], f.Value)
		}
	}
}

func sampleCommand(serializeType byte) *Command {
	cmd := &Command{
		Code: RequestSendMessage, Language: LanguageGo, Version: 317, Opaque: 99, Flag: FlagOneway,
		Remark: "remark <&> \u00e9 \x01", SerializeType: serializeType, Body: []byte("hello body"),
	}
	h := SendHeader{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 3, BornTimestamp: 1700000000000, Properties: "TAGS\x01a\x02UNIQ_KEY\x01C0A8\x02"}
	h.Apply(cmd)
	cmd.Ext.Set("custom-key", "v\"q")
	return cmd
}

func TestRoundTripBothEncodings(t *testing.T) {
	cases := []struct {
		name string
		cmd  *Command
	}{
		{"json send", sampleCommand(SerializeJSON)},
		{"binary send", sampleCommand(SerializeRocketMQ)},
		{"json empty", &Command{}},
		{"binary empty", &Command{SerializeType: SerializeRocketMQ}},
		{"json response", NewResponse(&Command{Opaque: 7}, ResponsePullNotFound, "none")},
		{"binary response", NewResponse(&Command{Opaque: 7, SerializeType: SerializeRocketMQ}, ResponseSystemBusy, "")},
		{"json unknown language", &Command{Language: 200, Code: -5, Flag: -1}},
		{"binary odd bytes", &Command{SerializeType: SerializeRocketMQ, Remark: "\xff\x00",
			Ext: Ext{Fields: []Field{{"", "\x00\xff"}, {"k", ""}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := AppendFrame(nil, tc.cmd)
			n, err := FrameSize(frame, 0)
			if err != nil || n != len(frame) {
				t.Fatalf("FrameSize = %d, %v; frame is %d bytes", n, err, len(frame))
			}
			got := mustDecode(t, frame)
			if !sameCommand(got, tc.cmd) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, tc.cmd)
			}
			var viaHeader []byte
			viaHeader = AppendFrameHeader(viaHeader, tc.cmd, len(tc.cmd.Body))
			viaHeader = append(viaHeader, tc.cmd.Body...)
			if !bytes.Equal(viaHeader, frame) {
				t.Fatal("AppendFrameHeader+body differs from AppendFrame")
			}
		})
	}
}

func TestDecodeSplitAtEveryByte(t *testing.T) {
	var stream []byte
	cmds := []*Command{sampleCommand(SerializeJSON), sampleCommand(SerializeRocketMQ), NewRequest(RequestHeartbeat)}
	for _, c := range cmds {
		stream = AppendFrame(stream, c)
	}
	for split := 0; split <= len(stream); split++ {
		var buf []byte
		var got []*Command
		for _, chunk := range [][]byte{stream[:split], stream[split:]} {
			buf = append(buf, chunk...)
			for {
				n, err := FrameSize(buf, DefaultMaxFrameSize)
				if err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				if n == 0 {
					break
				}
				frame := append([]byte(nil), buf[:n]...)
				got = append(got, mustDecode(t, frame))
				buf = buf[n:]
			}
		}
		if len(got) != len(cmds) || len(buf) != 0 {
			t.Fatalf("split %d: %d commands, %d bytes left", split, len(got), len(buf))
		}
		for i := range cmds {
			if !sameCommand(got[i], cmds[i]) {
				t.Fatalf("split %d: command %d differs", split, i)
			}
		}
	}
}

func TestFrameSizeErrors(t *testing.T) {
	cases := []struct {
		name string
		buf  []byte
		max  int
		want error
	}{
		{"length below 4", []byte{0, 0, 0, 3}, 0, ErrMalformedFrame},
		{"too large", []byte{0, 0, 0x10, 0}, 1024, ErrFrameTooLarge},
		{"too large default", []byte{0x01, 0, 0, 0}, 0, ErrFrameTooLarge},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, 0, ErrFrameTooLarge},
		{"header longer than frame", []byte{0, 0, 0, 8, 0, 0, 0, 5}, 0, ErrMalformedFrame},
		{"bad serialize type", []byte{0, 0, 0, 8, 2, 0, 0, 0}, 0, ErrMalformedFrame},
	}
	for _, tc := range cases {
		if _, err := FrameSize(tc.buf, tc.max); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n, err := FrameSize([]byte{0, 0, 0}, 0); n != 0 || err != nil {
		t.Errorf("3 bytes: %d, %v", n, err)
	}
	if n, err := FrameSize([]byte{0, 0, 0, 4, 0, 0, 0, 0}, 0); n != 8 || err != nil {
		t.Errorf("minimal frame: %d, %v", n, err)
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	good := AppendFrame(nil, sampleCommand(SerializeJSON))
	var cmd Command
	if err := Decode(good[:len(good)-1], &cmd); !errors.Is(err, ErrMalformedFrame) {
		t.Errorf("short frame: %v", err)
	}
	if err := Decode(good[:5], &cmd); !errors.Is(err, ErrMalformedFrame) {
		t.Errorf("tiny frame: %v", err)
	}
	bin := AppendFrame(nil, sampleCommand(SerializeRocketMQ))
	for cut := 8; cut < len(bin)-len("hello body"); cut++ {
		trunc := append([]byte(nil), bin[:cut]...)
		binary.BigEndian.PutUint32(trunc, uint32(cut-4))
		binary.BigEndian.PutUint32(trunc[4:], 1<<24|uint32(cut-8))
		if err := Decode(trunc, &cmd); !errors.Is(err, ErrMalformedHeader) {
			t.Fatalf("binary header cut at %d: %v", cut, err)
		}
	}
}

func TestCommandReuseKeepsStringsIndependent(t *testing.T) {
	var cmd Command
	frame := jsonFrame(`{"remark":"first","extFields":{"topic":"A","zz":"x"}}`, nil)
	if err := Decode(frame, &cmd); err != nil {
		t.Fatal(err)
	}
	remark, topic := cmd.Remark, cmd.Ext.Fields[0].Value
	if err := Decode(jsonFrame(`{"remark":"second","extFields":{"topic":"B"}}`, nil), &cmd); err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 0
	}
	if remark != "first" || topic != "A" || cmd.Remark != "second" || cmd.Ext.Len() != 1 {
		t.Fatalf("remark %q topic %q cmd %+v", remark, topic, cmd)
	}
}

func TestExtAccessors(t *testing.T) {
	cmd := NewRequest(RequestPullMessage)
	cmd.SetExtInt64("offset", -42)
	cmd.SetExtBool("flagOn", true)
	cmd.Ext.Set("big", "99999999999")
	cmd.Ext.Set("word", "abc")
	cmd.Ext.Set("upper", "TRUE")
	if v, err := cmd.ExtInt64("offset"); v != -42 || err != nil {
		t.Fatalf("ExtInt64 = %d, %v", v, err)
	}
	if v, err := cmd.ExtInt32("offset"); v != -42 || err != nil {
		t.Fatalf("ExtInt32 = %d, %v", v, err)
	}
	if _, err := cmd.ExtInt32("big"); !errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), "big") {
		t.Fatalf("ExtInt32 overflow: %v", err)
	}
	if _, err := cmd.ExtInt64("word"); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("ExtInt64 word: %v", err)
	}
	if _, err := cmd.ExtInt64("absent"); !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("ExtInt64 absent: %v", err)
	}
	for key, want := range map[string]bool{"flagOn": true, "upper": true, "word": false} {
		if v, err := cmd.ExtBool(key); v != want || err != nil {
			t.Fatalf("ExtBool(%s) = %v, %v", key, v, err)
		}
	}
	if _, err := cmd.ExtBool("absent"); !errors.Is(err, ErrMissingField) {
		t.Fatalf("ExtBool absent: %v", err)
	}
}

func TestNewRequestAndResponse(t *testing.T) {
	a, b := NewRequest(RequestHeartbeat), NewRequest(RequestHeartbeat)
	if a.Opaque == b.Opaque || a.Version != 317 || a.Language != LanguageGo || a.SerializeType != SerializeJSON {
		t.Fatalf("requests %+v %+v", a, b)
	}
	a.SerializeType = SerializeRocketMQ
	resp := NewResponse(a, ResponseSystemError, "boom")
	if resp.Opaque != a.Opaque || !resp.IsResponse() || resp.SerializeType != SerializeRocketMQ ||
		resp.Code != ResponseSystemError || resp.Remark != "boom" || resp.Language != LanguageGo {
		t.Fatalf("response %+v", resp)
	}
}

func TestCodeNames(t *testing.T) {
	if RequestName(RequestSendMessage) != "SEND_MESSAGE" || RequestName(RequestHeartbeat) != "HEART_BEAT" ||
		RequestName(9999) != "REQUEST_9999" {
		t.Fatal("request names")
	}
	if ResponseName(ResponseSubscriptionGroupNotExist) != "SUBSCRIPTION_GROUP_NOT_EXIST" ||
		ResponseName(ResponseSubscriptionParseFailed) != "SUBSCRIPTION_PARSE_FAILED" || ResponseName(-3) != "RESPONSE_-3" {
		t.Fatal("response names")
	}
	codes := [][2]int16{{RequestSendMessage, 10}, {RequestGetRouteInfoByTopic, 105}, {RequestSendBatchMessage, 320},
		{RequestQueryDataVersion, 322}, {RequestGetAllTopicConfig, 21}, {RequestDeleteTopicInNameSrv, 216},
		{ResponsePullOffsetMoved, 21}, {ResponseSubscriptionNotLatest, 25}, {ResponseFlushDiskTimeout, 10}}
	for _, c := range codes {
		if c[0] != c[1] {
			t.Errorf("code %d, want %d", c[0], c[1])
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(jsonFrame(goClientRouteQuery, nil))
	f.Add(jsonFrame(`{"code":0,"extFields":{"a":null},"flag":1,"language":"JAVA","x":[1,{"y":2}]}`, []byte("b")))
	f.Add(AppendFrame(nil, sampleCommand(SerializeJSON)))
	f.Add(AppendFrame(nil, sampleCommand(SerializeRocketMQ)))
	f.Add(jsonFrame(`{"remark":"\ud83d\ude00\ud800"}`, nil))
	f.Fuzz(func(t *testing.T, frame []byte) {
		n, err := FrameSize(frame, 1<<20)
		if err != nil || n != len(frame) {
			var cmd Command
			_ = Decode(frame, &cmd) // must not panic either way
			return
		}
		var cmd Command
		if err := Decode(frame, &cmd); err != nil {
			return
		}
		again := AppendFrame(nil, &cmd)
		var back Command
		if err := Decode(again, &back); err != nil {
			t.Fatalf("re-decode: %v\n%q", err, again)
		}
		if !sameCommand(&cmd, &back) {
			t.Fatalf("round trip differs\n%+v\n%+v", cmd, back)
		}
	})
}
