package authhttp

import (
	"bytes"
	"net/http"
	"strconv"
	"time"
)

// The reply of GET /me, the route a client calls most, is encoded by hand:
// reflection made encoding/json the largest single cost of that route. The
// bytes are json.Marshal's (TestAppendMeAsMarshal checks that): where the
// hand-written path cannot be sure of that, a string that would need
// escaping or a time that Time.MarshalJSON would refuse, it reports false
// and the reply goes through encoding/json instead.

// writeMe writes the reply of GET /me.
func writeMe(w http.ResponseWriter, me v1Me) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	buf.Reset()
	buf.Grow(1024) // once per pooled buffer: what the reply is appended to
	b, ok := me.appendJSON(buf.AvailableBuffer())
	if !ok {
		writeJSON(w, http.StatusOK, me)
		return
	}
	writeJSONBody(w, http.StatusOK, append(b, '\n'))
}

// appendJSON appends json.Marshal(me) to b, or reports false.
func (me v1Me) appendJSON(b []byte) ([]byte, bool) {
	u, ok := me.User, true
	b = append(b, `{"public_id":`...)
	b, ok = appendJSONString(b, u.PublicID, ok)
	b = append(b, `,"username":`...)
	b, ok = appendJSONString(b, u.Username, ok)
	b = append(b, `,"email":`...)
	b, ok = appendJSONString(b, u.Email, ok)
	b = append(b, `,"phone":`...)
	b, ok = appendJSONString(b, u.Phone, ok)
	b = append(b, `,"is_admin":`...)
	b = strconv.AppendBool(b, u.IsAdmin)
	b = append(b, `,"created_at":`...)
	b, ok = appendJSONTime(b, u.CreatedAt, ok)
	b = append(b, `,"updated_at":`...)
	b, ok = appendJSONTime(b, u.UpdatedAt, ok)
	if u.DisabledAt != nil {
		b = append(b, `,"disabled_at":`...)
		b, ok = appendJSONTime(b, *u.DisabledAt, ok)
	}
	b = append(b, `,"two_factor":{"totp_enabled":`...)
	b = strconv.AppendBool(b, me.TwoFactor.TOTPEnabled)
	b = append(b, `,"enrollment_pending":`...)
	b = strconv.AppendBool(b, me.TwoFactor.EnrollmentPending)
	b = append(b, `,"recovery_codes_left":`...)
	b = strconv.AppendInt(b, int64(me.TwoFactor.RecoveryCodesLeft), 10)
	b = append(b, "}}"...)
	return b, ok
}

// appendJSONString appends s quoted, when encoding/json would write it
// as it is: printable ASCII, without the characters it escapes ('"', '\\')
// or HTML-escapes ('<', '>', '&'). Otherwise it reports false.
func appendJSONString(b []byte, s string, ok bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			ok = false
			break
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), ok
}

// appendJSONTime appends t as Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted), when Time.MarshalJSON would not refuse it: a year
// outside 0–9999, or an offset of a day or more. Otherwise it reports
// false.
func appendJSONTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	_, offset := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || offset <= -24*60*60 || offset >= 24*60*60 {
		ok = false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), ok
}
