package adminwire

import (
	"reflect"
	"testing"
)

func TestVerifyReportRoundTrip(t *testing.T) {
	in := VerifyReport{From: 1, To: 2, LogEnd: 3, Records: 4,
		Damaged: []DamagedRange{{Segment: "00000000000000000000", Offset: 5, Length: 6, Reason: "body crc"}}}
	out, err := DecodeVerifyReport(in.Encode())
	if err != nil || !reflect.DeepEqual(*out, in) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
}

func FuzzDecodeVerifyReport(f *testing.F) {
	f.Add((&VerifyReport{From: 1, To: 2, Damaged: []DamagedRange{{Segment: "0", Offset: 1, Length: 2, Reason: "x"}}}).Encode())
	f.Add([]byte(`{"damaged":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeVerifyReport(body)
		if err != nil {
			return
		}
		again, err := DecodeVerifyReport(r.Encode())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-decode of %q: %+v %v", body, again, err)
		}
	})
}
