package syncapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"
)

// Envelope is the reply of every Sync API call (docs/sunbird.md, the Sync API).
type Envelope struct {
	ID           string         `json:"id"`
	Ver          string         `json:"ver"`
	Ts           string         `json:"ts"`
	Params       Params         `json:"params"`
	ResponseCode string         `json:"responseCode"`
	Result       map[string]any `json:"result"`
}

// Params is the envelope's params block.
type Params struct {
	ResMsgID string  `json:"resmsgid"`
	MsgID    string  `json:"msgid"`
	Err      *string `json:"err"`
	Status   string  `json:"status"`
	ErrMsg   *string `json:"errmsg"`
}

// The envelope's fixed values.
const (
	envelopeID  = "api.data.sync"
	envelopeVer = "v1"
)

// TimeFormat is Sunbird's timestamp format: 2023-09-20 12:02:24:452+0000.
func formatTS(t time.Time) string {
	t = t.UTC()
	return t.Format("2006-01-02 15:04:05") + fmt.Sprintf(":%03d+0000", t.Nanosecond()/int(time.Millisecond))
}

// apiError is a failed call: HTTP status, Sunbird response code, error code
// and message, all written into the envelope.
type apiError struct {
	status int
	code   string // responseCode: CLIENT_ERROR, SERVER_ERROR, …
	err    string // params.err
	msg    string // params.errmsg
}

func clientError(err, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "CLIENT_ERROR", err: err, msg: msg}
}

// requestID returns the caller's X-Request-ID, or a new random id.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 200 {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newEnvelope(msgID string, now time.Time, result map[string]any, e *apiError) Envelope {
	env := Envelope{
		ID:  envelopeID,
		Ver: envelopeVer,
		Ts:  formatTS(now),
		Params: Params{
			ResMsgID: msgID,
			MsgID:    msgID,
			Status:   "SUCCESS",
		},
		ResponseCode: "OK",
		Result:       result,
	}
	if env.Result == nil {
		env.Result = map[string]any{}
	}
	if e != nil {
		env.Params.Status = "FAILED"
		env.Params.Err = &e.err
		env.Params.ErrMsg = &e.msg
		env.ResponseCode = e.code
	}
	return env
}
