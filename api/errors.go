package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/memory"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/lease"
)

// Error is the body of every error response:
// {"error":{"code":"snake_case","message":"human sentence"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// toError maps errors from the planes to HTTP status and code. It is the
// one place where that mapping lives.
func toError(err error) *Error {
	var e *Error
	var mbe *http.MaxBytesError
	var attn *lease.AttenuationError
	var budget *lease.BudgetError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", err.Error())
	case errors.Is(err, kernel.ErrUnauthorized):
		msg := "a valid lease token is required as Authorization: Bearer mos_…"
		if err != kernel.ErrUnauthorized {
			msg = err.Error() // says why: revoked, expired, not yet valid
		}
		return errorf(http.StatusUnauthorized, "unauthorized", msg)
	case errors.As(err, &attn):
		return errorf(http.StatusForbidden, "attenuation", attn.Reason)
	case errors.As(err, &budget):
		return errorf(http.StatusPaymentRequired, "budget_exceeded", budget.Error())
	case errors.Is(err, lease.ErrForbidden):
		return errorf(http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, lease.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, gate.ErrApprovalNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, gate.ErrNotPending):
		return errorf(http.StatusConflict, "not_pending", err.Error())
	case errors.Is(err, gate.ErrForbidden):
		return errorf(http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, gate.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, lease.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, ledger.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, "ledger_unavailable", "the ledger cannot record, so nothing was done: "+err.Error())
	case errors.Is(err, ledger.ErrEntryTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "entry_too_large", err.Error())
	case errors.Is(err, ledger.ErrInvalidEvent):
		return errorf(http.StatusBadRequest, "invalid_event", err.Error())
	case errors.Is(err, ledger.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, memory.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, memory.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, memory.ErrConflict):
		return errorf(http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, memory.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "request_cancelled", "the request was cancelled before it finished")
	default:
		return errorf(http.StatusInternalServerError, "internal_error", "internal error; the daemon log has the details")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mirror"`)
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}
