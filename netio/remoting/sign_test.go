package remoting

import "testing"

// TestSignerMatchesCredentials: the pooled Signer and Credentials.Sign
// give the same signature, again and again.
func TestSignerMatchesCredentials(t *testing.T) {
	creds := Credentials{AccessKey: "AKxxxxx", SecretKey: "SKxxxxx", SecurityToken: "tok"}
	s := NewSigner(creds)
	for i := range 3 {
		a, b := NewRequest(RequestSendMessage), NewRequest(RequestSendMessage)
		for _, c := range []*Command{a, b} {
			c.Ext.Set(ExtTopic, "T")
			c.Ext.Set(ExtQueueID, string(rune('0'+i)))
			c.Body = []byte("body")
		}
		creds.Sign(a)
		s.Sign(b)
		sa, _ := a.Ext.Get(ExtSignature)
		sb, _ := b.Ext.Get(ExtSignature)
		if sa == "" || sa != sb {
			t.Fatalf("round %d: %q != %q", i, sa, sb)
		}
	}
}

func BenchmarkSign1KiB(b *testing.B) {
	s := NewSigner(Credentials{AccessKey: "AKxxxxx", SecretKey: "SKxxxxx"})
	cmd := NewRequest(RequestSendMessageV2)
	cmd.Body = make([]byte, 1024)
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"} {
		cmd.Ext.Set(k, "value-"+k)
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(cmd)
	}
}
