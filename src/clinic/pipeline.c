/* pipeline.c - see pipeline.h. Decoding is greedy (deterministic, as a clinical tool should be):
 * at each step the most likely token whose text the schema automaton accepts is taken. The best
 * few candidates are tried first; when none fits, every token of the vocabulary is checked. */
#include "clinic/pipeline.h"
#include "text/chat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

clinic_run_params clinic_run_default_params(void)
{
    clinic_run_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 1024;
    return p;
}

/* Does token id's text advance the automaton? On success *st is the advanced state. */
static int token_fits(const spm_vocab *v, int32_t id, jf_state *st)
{
    /* only pieces of text: never control, unknown or unused (padding) ids */
    int type = spm_token_type(v, id);
    if (type != SPM_TYPE_NORMAL && type != SPM_TYPE_BYTE && type != SPM_TYPE_USER_DEFINED)
        return 0;
    char piece[256];
    size_t n = spm_token_piece(v, id, 0, piece, sizeof piece);
    if (n == 0 || n > sizeof piece)
        return 0; /* control tokens (empty text) never advance the answer */
    jf_state t = *st;
    if (!jf_feed(&t, piece, n))
        return 0;
    *st = t;
    return 1;
}

#define QUICK_TRIES 32

static medge_status pick(const spm_vocab *v, const float *logits, int n_vocab, float *scratch, jf_state *st, int32_t *tok)
{
    memcpy(scratch, logits, (size_t)n_vocab * sizeof *scratch);
    for (int k = 0; k < QUICK_TRIES; k++) {
        int best = -1;
        for (int i = 0; i < n_vocab; i++)
            if (scratch[i] > -INFINITY && (best < 0 || scratch[i] > scratch[best]))
                best = i;
        if (best < 0)
            break;
        if (token_fits(v, best, st)) {
            *tok = best;
            return MEDGE_OK;
        }
        scratch[best] = -INFINITY;
    }
    int best = -1;
    jf_state best_st = *st;
    for (int i = 0; i < n_vocab; i++) {
        if (scratch[i] == -INFINITY || (best >= 0 && logits[i] <= logits[best]))
            continue;
        jf_state t = *st;
        if (token_fits(v, i, &t)) {
            best = i;
            best_st = t;
        }
    }
    if (best < 0)
        return medge_err(MEDGE_ERR_FORMAT, "no token of the vocabulary continues the answer");
    *st = best_st;
    *tok = best;
    return MEDGE_OK;
}

static medge_status build_prompt(const spm_vocab *v, const char *symptoms, int with_image, int32_t **ids, size_t *n)
{
    medge_buf text = {0};
    clinic_build_prompt(&text, symptoms, with_image);
    if (text.oom)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    chat_part parts[2];
    memset(parts, 0, sizeof parts);
    size_t np = 0;
    if (with_image)
        parts[np++].type = CHAT_PART_IMAGE;
    parts[np].type = CHAT_PART_TEXT;
    parts[np].text = text.data;
    parts[np].len = text.len;
    np++;
    chat_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.role = "user";
    msg.kind = CHAT_CONTENT_PARTS;
    msg.parts = parts;
    msg.n_parts = np;
    const spm_special *sp = spm_specials(v);
    const char *bos = sp->bos >= 0 ? spm_token_text(v, sp->bos, NULL) : "";
    char *rendered = NULL;
    size_t rlen = 0;
    medge_status rc = chat_render_gemma3(&msg, 1, true, bos, &rendered, &rlen);
    medge_buf_free(&text);
    if (rc != MEDGE_OK)
        return rc;
    rc = spm_encode(v, rendered, rlen, SPM_PARSE_SPECIAL, ids, n);
    free(rendered);
    return rc;
}

/* Evaluate the prompt; the image embeddings go right after <start_of_image>, followed by
 * <end_of_image>, as llama.cpp feeds Gemma 3 images. */
static medge_status eval_prompt(medge_session *s, const spm_vocab *v, const int32_t *ids, size_t n, const clinic_run_params *p)
{
    if (!p->image)
        return medge_session_eval(s, ids, (int)n);
    const spm_special *sp = spm_specials(v);
    if (sp->start_of_image < 0 || sp->end_of_image < 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "the vocabulary has no <start_of_image>/<end_of_image> tokens");
    size_t at = n;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == sp->start_of_image) {
            at = i;
            break;
        }
    if (at == n)
        return medge_err(MEDGE_ERR_INTERNAL, "the prompt has no image marker");
    MEDGE_TRY(medge_session_eval(s, ids, (int)at + 1));
    MEDGE_TRY(medge_session_eval_embd(s, p->image, p->n_image, 1));
    int32_t eoi = sp->end_of_image;
    MEDGE_TRY(medge_session_eval(s, &eoi, 1));
    return medge_session_eval(s, ids + at + 1, (int)(n - at - 1));
}

medge_status clinic_run(medge_session *s, const spm_vocab *v, const char *symptoms, clinic_run_params p,
                        clinic_report *report, medge_buf *raw)
{
    memset(report, 0, sizeof *report);
    if (!symptoms || !symptoms[0])
        return medge_err(MEDGE_ERR_INVALID_ARG, "no case description given");
    if (p.max_tokens <= 0)
        p.max_tokens = clinic_run_default_params().max_tokens;
    int32_t *ids = NULL;
    size_t n = 0;
    MEDGE_TRY(build_prompt(v, symptoms, p.image != NULL, &ids, &n));
    int n_vocab = spm_n_vocab(v);
    int need = (int)n + (p.image ? p.n_image + 1 : 0) + p.max_tokens;
    medge_status rc = MEDGE_OK;
    if (need > medge_session_n_ctx(s)) {
        free(ids);
        return medge_err(MEDGE_ERR_CONTEXT_FULL, "prompt (%zu tokens) + answer budget (%d) need %d positions; the context has %d",
                         n, p.max_tokens, need, medge_session_n_ctx(s));
    }
    medge_session_rewind(s, 0);
    rc = eval_prompt(s, v, ids, n, &p);
    free(ids);
    if (rc != MEDGE_OK)
        return rc;
    float *scratch = malloc((size_t)n_vocab * sizeof *scratch);
    if (!scratch)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_buf answer = {0};
    jf_state st;
    jf_init(&st, clinic_schema(p.image != NULL));
    for (int step = 0; !jf_done(&st); step++) {
        if (step >= p.max_tokens) {
            rc = medge_err(MEDGE_ERR_RANGE, "the answer was not complete after %d tokens", p.max_tokens);
            break;
        }
        const float *logits = medge_session_logits(s);
        int32_t tok;
        if ((rc = pick(v, logits, n_vocab, scratch, &st, &tok)) != MEDGE_OK)
            break;
        char piece[256];
        size_t k = spm_token_piece(v, tok, 0, piece, sizeof piece);
        medge_buf_append(&answer, piece, k);
        if (p.on_text)
            p.on_text(answer.data, answer.len, p.user);
        if (jf_done(&st))
            break;
        if ((rc = medge_session_eval(s, &tok, 1)) != MEDGE_OK)
            break;
    }
    free(scratch);
    if (rc == MEDGE_OK && answer.oom)
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    if (rc == MEDGE_OK) {
        clinic_answer a;
        rc = clinic_parse_answer(answer.data, answer.len, &a);
        if (rc == MEDGE_OK)
            clinic_report_make(report, symptoms, &a);
        else
            medge_err_prefix(rc, "the constrained answer did not parse (a bug)");
    }
    if (raw && answer.len)
        medge_buf_append(raw, answer.data, answer.len);
    medge_buf_free(&answer);
    return rc;
}
