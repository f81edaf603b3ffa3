#include "meter.h"

#include <math.h>
#include <string.h>

void sampler_init(sampler_t *s, float frame_rate, uint8_t nominal_hz)
{
    memset(s, 0, sizeof *s);
    sampler_set_nominal(s, frame_rate, nominal_hz);
}

void sampler_set_nominal(sampler_t *s, float frame_rate, uint8_t nominal_hz)
{
    /* Half-cycles of the old length are not comparable: their maxima restart. */
    memset(s->half_i2, 0, sizeof s->half_i2);
    memset(s->half_max, 0, sizeof s->half_max);
    s->half_n = 0;
    s->max_frames = (uint16_t)(1.5f * frame_rate / nominal_hz);
    s->half_frames = (uint16_t)(frame_rate / (2.0f * nominal_hz) + 0.5f);
    if (s->half_frames == 0)
        s->half_frames = 1;
}

static void close_cycle(sampler_t *s, uint8_t crossing, int16_t v0, int16_t v1)
{
    cycle_t *c = &s->cycles[s->filling];
    c->crossing = crossing;
    c->cross_frame = s->frame;
    c->cross_v0 = v0;
    c->cross_v1 = v1;
    s->filling ^= 1;
    if (s->closed_ready) /* the main loop fell a cycle behind: the older one is dropped */
        memset(&s->cycles[s->filling], 0, sizeof(cycle_t));
    s->closed_ready = 1;
    s->cycle_start = s->frame;
}

void sampler_take(sampler_t *s, cycle_t *out)
{
    cycle_t *c = &s->cycles[s->filling ^ 1];
    *out = *c;
    memset(c, 0, sizeof *c);
    s->closed_ready = 0;
}

void sampler_slot(sampler_t *s, uint8_t slot, int16_t x)
{
    cycle_t *acc = &s->cycles[s->filling];
    if (slot > 0) {
        uint8_t c = slot - 1;
        uint32_t sq = (uint32_t)((int32_t)x * x);
        s->i[c] = x;
        acc->i2[c] += sq;
        if (s->half_flush) {
            /* This frame starts a half-cycle: the last one's sum is done. */
            if (s->half_i2[c] > s->half_max[c])
                s->half_max[c] = s->half_i2[c];
            s->half_i2[c] = sq;
            if (c == CHANNELS - 1) {
                s->half_flush = 0;
                s->halves++;
            }
        } else {
            s->half_i2[c] += sq;
        }
        return;
    }
    /* The voltage of a new frame: the previous frame is complete. Its currents were taken
     * (c+1)/INPUTS of a frame after its voltage: the voltage at that moment lies between this
     * sample and the last, so a power factor is not skewed by the multiplexer. */
    int16_t v0 = s->v_prev;
    if (s->have_frame) {
        int16_t step = x - v0;
        int16_t vi = v0 * INPUTS; /* v0 . (INPUTS - 1 - c) + x . (c + 1), built up by steps */
        for (uint8_t c = 0; c < CHANNELS; c++) {
            vi += step;
            acc->p[c] += (int32_t)vi * s->i[c];
        }
        acc->v2 += (uint32_t)((int32_t)v0 * v0);
        acc->frames++;
        if (++s->half_n >= s->half_frames) {
            s->half_n = 0;
            s->half_flush = 1;
        }
        /* A rising crossing between the two voltage samples closes a cycle; one within half a
         * cycle of the last is noise and ignored. */
        uint16_t since = (uint16_t)(s->frame - s->cycle_start);
        if (v0 < 0 && x >= 0 && since >= s->half_frames)
            close_cycle(s, 1, v0, x);
        else if (since >= s->max_frames)
            close_cycle(s, 0, 0, 0);
    }
    s->v_prev = x;
    s->have_frame = 1;
    s->frame++;
}

uint8_t window_cycles(float hz)
{
    return hz > 55.0f ? 12 : 10;
}

void window_restart(window_t *w)
{
    w->count = w->head = 0;
    w->last_cross = -1.0f;
}

/* Linear interpolation between two samples `step` radians apart shortens the voltage at
 * fraction `w` along the chord: P is divided by it. */
static float chord(float w, float step)
{
    float re = 1.0f - w + w * cosf(step), im = w * sinf(step);
    return sqrtf(re * re + im * im);
}

void window_push(window_t *w, const cycle_t *c, const scales_t *k, float frame_rate,
                 values_t out[CHANNELS])
{
    /* Crossing to crossing, interpolated between the samples either side, in frames. */
    float span = 0;
    if (c->crossing) {
        float at = (float)(c->cross_frame - 1) +
                   (float)(-c->cross_v0) / (float)(c->cross_v1 - c->cross_v0);
        if (w->last_cross >= 0)
            span = at - w->last_cross;
        w->last_cross = at;
    } else {
        w->last_cross = -1.0f;
    }
    w->spans[w->head] = span;
    w->ring[w->head] = *c;
    w->head = (w->head + 1) % WINDOW_MAX;
    if (w->count < WINDOW_MAX)
        w->count++;

    float n1 = c->frames ? (float)c->frames : 1.0f;
    w->v_cycle = sqrtf((float)c->v2 / n1) * k->v;
    for (uint8_t ch = 0; ch < CHANNELS; ch++) {
        /* Energy: the sum of v.i over the cycle's samples times the sample period. */
        float joules = (float)c->p[ch] / INPUTS * k->v * k->i[ch] / frame_rate;
        float mwh = w->energy_rest[ch] + joules / 3.6f;
        int32_t whole = (int32_t)mwh;
        w->energy_mwh[ch] += whole;
        w->energy_rest[ch] = mwh - (float)whole;
    }

    /* The window: the last cycles at the measured frequency's count. */
    uint8_t want = window_cycles(w->hz);
    uint8_t have = w->count < want ? w->count : want;
    float n = 0, v2 = 0, i2[CHANNELS] = {0}, p[CHANNELS] = {0};
    float spans = 0;
    uint8_t synced = 0;
    for (uint8_t j = 0; j < have; j++) {
        uint8_t at = (uint8_t)((w->head + WINDOW_MAX - 1 - j) % WINDOW_MAX);
        const cycle_t *e = &w->ring[at];
        n += e->frames;
        v2 += (float)e->v2;
        for (uint8_t ch = 0; ch < CHANNELS; ch++) {
            i2[ch] += (float)e->i2[ch];
            p[ch] += (float)e->p[ch];
        }
        if (w->spans[at] > 0) {
            spans += w->spans[at];
            synced++;
        }
    }
    /* A voltage that stopped crossing has no frequency, whatever the older cycles had. */
    w->hz = (span > 0 && spans > 0) ? (float)synced * frame_rate / spans : 0.0f;
    float step = 6.2831853f * (w->hz > 0 ? w->hz : 50.0f) / frame_rate;
    if (n < 1)
        n = 1;
    float v_rms = sqrtf(v2 / n) * k->v;
    for (uint8_t ch = 0; ch < CHANNELS; ch++) {
        float i_rms = sqrtf(i2[ch] / n) * k->i[ch];
        float pw = p[ch] / n / INPUTS * k->v * k->i[ch] / chord((ch + 1.0f) / INPUTS, step);
        float s = v_rms * i_rms;
        float pf = s > 1e-6f ? pw / s : 0.0f;
        out[ch].v_rms = v_rms;
        out[ch].i_rms = i_rms;
        out[ch].p = pw;
        out[ch].pf = pf > 1.0f ? 1.0f : pf < -1.0f ? -1.0f : pf;
        out[ch].hz = w->hz;
    }
}
