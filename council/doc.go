// Package council asks several models the same question and reports, honestly,
// where they agree and where they do not.
//
// A council run has up to five stages. Every member answers the question
// independently (StageAnswer). In synthesize mode each member then ranks the
// other members' anonymised answers (StageRank) and the rankings are combined
// with a Borda count. Unless the question opts out, every answer is split into
// atomic claims (StageClaims) and every other member judges each claim
// (StageJudge); a claim that any judge contradicts, or that no judge supports,
// is flagged, which catches facts one model invented and the others do not
// share. Finally the chairman writes the answer, leaving out or qualifying the
// flagged claims (StageSynthesize); in vote mode the members' answers are
// reduced to choices (StageVote, when fixed choices are given) and counted
// instead.
//
// The package makes no network calls of its own: the kernel supplies model
// calls through the Caller interface, and every call the council makes is
// recorded in Result.Calls with its stage, cost and duration.
package council
