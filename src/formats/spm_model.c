/* spm_model.c - see spm_model.h. Protobuf wire format: each field is a varint key
 * (field_number << 3 | wire_type) followed by a varint (type 0), 8 bytes (1), a varint length
 * and that many bytes (2) or 4 bytes (5). Groups (3, 4) are obsolete and rejected. The pieces
 * are parsed in two passes over the buffer: count and measure, then copy into one arena. */
#include "formats/spm_model.h"
#include "core/file.h"

#include <stdlib.h>
#include <string.h>

typedef struct pb {
    const uint8_t *p, *end;
} pb;

typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;          /* varint / fixed value */
    const uint8_t *data; /* wire type 2 */
    size_t len;
} pb_field;

static medge_status pb_varint(pb *b, uint64_t *out)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return medge_err(MEDGE_ERR_FORMAT, "truncated varint");
        uint8_t c = *b->p++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = r;
            return MEDGE_OK;
        }
    }
    return medge_err(MEDGE_ERR_FORMAT, "varint longer than 10 bytes");
}

/* Next field of b; *done = 1 at the end of the buffer. */
static medge_status pb_next(pb *b, pb_field *f, int *done)
{
    *done = 0;
    if (b->p >= b->end) {
        *done = 1;
        return MEDGE_OK;
    }
    uint64_t key = 0;
    MEDGE_TRY(pb_varint(b, &key));
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return medge_err(MEDGE_ERR_FORMAT, "invalid field number %llu", (unsigned long long)(key >> 3));
    f->data = NULL;
    f->len = 0;
    f->v = 0;
    switch (f->wire) {
    case 0:
        return pb_varint(b, &f->v);
    case 1:
    case 5: {
        size_t n = f->wire == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n)
            return medge_err(MEDGE_ERR_FORMAT, "truncated fixed-size field %u", f->num);
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)b->p[i] << (8 * i);
        b->p += n;
        return MEDGE_OK;
    }
    case 2: {
        uint64_t n = 0;
        MEDGE_TRY(pb_varint(b, &n));
        if (n > (uint64_t)(b->end - b->p))
            return medge_err(MEDGE_ERR_FORMAT, "field %u: length %llu runs past the end", f->num, (unsigned long long)n);
        f->data = b->p;
        f->len = (size_t)n;
        b->p += n;
        return MEDGE_OK;
    }
    default:
        return medge_err(MEDGE_ERR_FORMAT, "field %u: unsupported wire type %d", f->num, f->wire);
    }
}

static float f32_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int32_t as_int32(uint64_t v) { return (int32_t)(uint32_t)v; } /* protobuf int32 truncation */

/* Parse one SentencePiece message; text points into the input. */
static medge_status parse_piece(const uint8_t *d, size_t n, spm_piece *pc, const uint8_t **text, size_t *len)
{
    pb b = {d, d + n};
    pb_field f = {0};
    int done;
    pc->score = 0.0f;
    pc->type = SPM_NORMAL;
    *text = NULL;
    *len = 0;
    for (;;) {
        MEDGE_TRY(pb_next(&b, &f, &done));
        if (done)
            break;
        if (f.num == 1) {
            if (f.wire != 2)
                return medge_err(MEDGE_ERR_FORMAT, "piece text has wire type %d", f.wire);
            if (f.len > UINT32_MAX / 2)
                return medge_err(MEDGE_ERR_FORMAT, "piece text too long");
            *text = f.data;
            *len = f.len;
        } else if (f.num == 2) {
            if (f.wire != 5)
                return medge_err(MEDGE_ERR_FORMAT, "piece score has wire type %d", f.wire);
            pc->score = f32_bits((uint32_t)f.v);
        } else if (f.num == 3) {
            if (f.wire != 0)
                return medge_err(MEDGE_ERR_FORMAT, "piece type has wire type %d", f.wire);
            pc->type = as_int32(f.v);
        }
    }
    return MEDGE_OK;
}

static medge_status parse_trainer(spm_model *m, const uint8_t *d, size_t n)
{
    pb b = {d, d + n};
    pb_field f = {0};
    int done;
    for (;;) {
        MEDGE_TRY(pb_next(&b, &f, &done));
        if (done)
            return MEDGE_OK;
        if (f.wire != 0)
            continue;
        switch (f.num) {
        case 3: m->model_type = as_int32(f.v); break;
        case 4: m->vocab_size = as_int32(f.v); break;
        case 24: m->treat_whitespace_as_suffix = f.v != 0; break;
        case 35: m->byte_fallback = f.v != 0; break;
        case 40: m->unk_id = as_int32(f.v); break;
        case 41: m->bos_id = as_int32(f.v); break;
        case 42: m->eos_id = as_int32(f.v); break;
        case 43: m->pad_id = as_int32(f.v); break;
        default: break;
        }
    }
}

static medge_status parse_normalizer(spm_model *m, const uint8_t *d, size_t n)
{
    pb b = {d, d + n};
    pb_field f = {0};
    int done;
    for (;;) {
        MEDGE_TRY(pb_next(&b, &f, &done));
        if (done)
            return MEDGE_OK;
        if (f.num == 1 && f.wire == 2) {
            free(m->normalizer_name);
            m->normalizer_name = malloc(f.len + 1);
            if (!m->normalizer_name)
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            memcpy(m->normalizer_name, f.data, f.len);
            m->normalizer_name[f.len] = 0;
        } else if (f.wire == 0) {
            if (f.num == 3)
                m->add_dummy_prefix = f.v != 0;
            else if (f.num == 4)
                m->remove_extra_whitespaces = f.v != 0;
            else if (f.num == 5)
                m->escape_whitespaces = f.v != 0;
        }
    }
}

static medge_status parse(spm_model *m, const uint8_t *d, size_t n)
{
    /* pass 1: count pieces and text bytes; parse the specs */
    size_t n_pieces = 0, text_bytes = 0;
    pb b = {d, d + n};
    pb_field f = {0};
    int done;
    for (;;) {
        MEDGE_TRY(pb_next(&b, &f, &done));
        if (done)
            break;
        if (f.num == 1) {
            if (f.wire != 2)
                return medge_err(MEDGE_ERR_FORMAT, "pieces field has wire type %d", f.wire);
            spm_piece pc;
            const uint8_t *t;
            size_t len;
            medge_status rc = parse_piece(f.data, f.len, &pc, &t, &len);
            if (rc != MEDGE_OK)
                return medge_err_prefix(rc, "piece %zu", n_pieces);
            n_pieces++;
            text_bytes += len + 1; /* bounded by n: no overflow */
        } else if (f.num == 2 && f.wire == 2) {
            medge_status rc = parse_trainer(m, f.data, f.len);
            if (rc != MEDGE_OK)
                return medge_err_prefix(rc, "trainer_spec");
        } else if (f.num == 3 && f.wire == 2) {
            medge_status rc = parse_normalizer(m, f.data, f.len);
            if (rc != MEDGE_OK)
                return medge_err_prefix(rc, "normalizer_spec");
        }
    }
    if (n_pieces == 0)
        return medge_err(MEDGE_ERR_FORMAT, "no pieces (not a SentencePiece model)");
    m->pieces = calloc(n_pieces, sizeof *m->pieces);
    m->arena_ = malloc(text_bytes);
    if (!m->pieces || !m->arena_)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for %zu pieces", n_pieces);
    /* pass 2: copy */
    char *a = m->arena_;
    b.p = d;
    for (;;) {
        MEDGE_TRY(pb_next(&b, &f, &done));
        if (done)
            break;
        if (f.num != 1)
            continue;
        spm_piece *pc = &m->pieces[m->n_pieces];
        const uint8_t *t;
        size_t len;
        MEDGE_TRY(parse_piece(f.data, f.len, pc, &t, &len));
        if (len)
            memcpy(a, t, len);
        a[len] = 0;
        pc->text = a;
        pc->len = (uint32_t)len;
        a += len + 1;
        m->n_pieces++;
    }
    return MEDGE_OK;
}

medge_status spm_model_parse(const void *data, size_t n, spm_model **out)
{
    *out = NULL;
    if (!data && n)
        return medge_err(MEDGE_ERR_INVALID_ARG, "spm_model_parse: NULL data");
    spm_model *m = calloc(1, sizeof *m);
    if (!m)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    m->model_type = SPM_UNIGRAM;
    m->vocab_size = 8000;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = 1;
    m->remove_extra_whitespaces = 1;
    m->escape_whitespaces = 1;
    medge_status rc = parse(m, data, n);
    if (rc != MEDGE_OK) {
        spm_model_free(m);
        return rc;
    }
    *out = m;
    return MEDGE_OK;
}

medge_status spm_model_load(const char *path, spm_model **out)
{
    *out = NULL;
    medge_map map;
    MEDGE_TRY(medge_read_file(path, &map));
    medge_status rc = spm_model_parse(map.data, (size_t)map.size, out);
    medge_unmap(&map);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "%s", path);
    return MEDGE_OK;
}

void spm_model_free(spm_model *m)
{
    if (!m)
        return;
    free(m->pieces);
    free(m->arena_);
    free(m->normalizer_name);
    free(m);
}
