package acl

import (
	"errors"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

// FuzzParse feeds arbitrary text to the ACL file parser: it must return
// rules or an ErrBadFile, never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleFile))
	f.Add([]byte(gateFile))
	f.Add([]byte("accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    topicPerms: [a=PUB, b=SUB|PUB]\n"))
	f.Add([]byte("globalWhiteRemoteAddresses: ['192.168.0.{1,2}', '10.*', '::1']\n"))
	f.Add([]byte("x: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("error without its class: %v", err)
			}
			return
		}
		for _, a := range r.accounts {
			if len(a.AccessKey) < minKeyLength || len(a.secret) < minKeyLength {
				t.Fatalf("account with a short key admitted: %q", a.AccessKey)
			}
		}
	})
}

// FuzzAdmit checks requests built from arbitrary fields, bodies and
// signatures: the gate answers every one without panicking, and admits an
// unsigned or wrongly signed one only from a white-listed address.
func FuzzAdmit(f *testing.F) {
	f.Add(int16(310), "topicA", "producerA", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", []byte("body"), "172.16.0.9:1")
	f.Add(int16(34), "", "consumerA", "", []byte(`{"consumerDataSet":[{"groupName":"g"}]}`), "10.0.0.1:5")
	f.Add(int16(11), "%RETRY%", "adminKey", "====", []byte{}, "garbage")
	r, err := Parse([]byte(gateFile))
	if err != nil {
		f.Fatal(err)
	}
	g := NewGate(Static{r}, BrokerProfile)
	f.Fuzz(func(t *testing.T, code int16, topic, ak, sig string, body []byte, remote string) {
		cmd := &remoting.Command{Code: code, Body: body}
		cmd.Ext.Set(remoting.ExtTopic, topic)
		cmd.Ext.Set(remoting.ExtV2Topic, topic)
		cmd.Ext.Set(remoting.ExtConsumerGroup, topic)
		cmd.Ext.Set(remoting.ExtAccessKey, ak)
		cmd.Ext.Set(remoting.ExtSignature, sig)
		err := g.Admit(remote, cmd)
		white := r.globalWhite.match(remoteIP(remote))
		if acct := r.accounts[ak]; acct != nil && acct.white.match(remoteIP(remote)) {
			white = true
		}
		if err == nil && !white {
			// Only a correct signature admits: check it was one.
			if acct := r.accounts[ak]; acct == nil || !acct.verify(cmd) {
				t.Fatalf("admitted without a valid signature: %+v", cmd.Ext.Fields)
			}
		}
		if err != nil && !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrDenied) {
			t.Fatalf("refusal without its class: %v", err)
		}
	})
}
