package webhook

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// MaxBody is the hard limit of a webhook body in bytes (SPEC §9.2 step 6).
const MaxBody = 1 << 20

// ReadBody reads a webhook body through the hard limit of MaxBody bytes.
//
// A contentLength above MaxBody is refused without reading (tooLarge, n = 0).
// Otherwise at most MaxBody+1 bytes are read; if more than MaxBody arrive the
// body is discarded and tooLarge is set. n is the number of bytes actually
// read, which is body_bytes in the delivery log (SPEC §18.10). A reader
// wrapped in http.MaxBytesReader that hits its limit also yields tooLarge
// (with err nil). err reports any other read failure.
func ReadBody(r io.Reader, contentLength int64) (body []byte, n int64, tooLarge bool, err error) {
	if contentLength > MaxBody {
		return nil, 0, true, nil
	}
	var buf bytes.Buffer
	if contentLength > 0 {
		buf.Grow(int(contentLength) + bytes.MinRead)
	}
	n, err = buf.ReadFrom(io.LimitReader(r, MaxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, n, true, nil
		}
		return nil, n, false, err
	}
	if n > MaxBody {
		return nil, n, true, nil
	}
	return buf.Bytes(), n, false, nil
}
