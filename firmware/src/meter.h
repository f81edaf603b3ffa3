/* The metering: samples in (from the timer interrupt), cycles closed at rising zero crossings of
 * the voltage, and the window of the last 10 cycles (12 at 60 Hz) in SI units out (in the main
 * loop). No hardware here: the same code runs on the host. */
#ifndef METER_H
#define METER_H
#include <stdint.h>

#include "config.h"

/* One cycle's sums, in ADC counts about the bias. */
typedef struct {
    uint16_t frames;
    uint32_t v2;
    uint32_t i2[CHANNELS];
    /* v . i with v interpolated to the current sample's moment, times INPUTS. */
    int32_t p[CHANNELS];
    /* The rising crossing that closed it: the frame after it and the voltage samples either
     * side (the main loop interpolates: no division in the interrupt). */
    uint32_t cross_frame;
    int16_t cross_v0, cross_v1;
    uint8_t crossing;
} cycle_t;

/* What the interrupt side keeps. */
typedef struct {
    int16_t v_prev;
    int16_t i[CHANNELS];
    uint8_t have_frame;
    uint32_t frame;
    uint32_t cycle_start; /* frame */
    uint16_t max_frames;  /* a cycle is closed without a crossing after this many frames */
    uint16_t half_frames; /* frames per half-cycle of the nominal frequency */
    uint16_t half_n;
    volatile uint8_t halves; /* half-cycles done, modulo 256 */
    uint8_t half_flush;      /* a half-cycle ended: each channel's slot takes its maximum */
    uint32_t half_i2[CHANNELS];
    uint32_t half_max[CHANNELS];
    /* Two cycles' sums: the interrupt fills one while the main loop reads (and clears) the
     * other, so closing a cycle is a flip, not a copy. */
    cycle_t cycles[2];
    uint8_t filling;
    volatile uint8_t closed_ready;
} sampler_t;

/* One channel's window values, SI units. */
typedef struct {
    float v_rms, i_rms, p, pf, hz;
} values_t;

#define WINDOW_MAX 12

/* What the main loop keeps: the last cycles and the energy registers. */
typedef struct {
    cycle_t ring[WINDOW_MAX];
    uint8_t count, head;
    float energy_rest[CHANNELS]; /* mWh not yet in the integer register */
    int32_t energy_mwh[CHANNELS];
    float hz;
    float v_cycle;    /* the last cycle's V rms */
    float last_cross; /* frames; negative when the last cycle did not end at a crossing */
    float spans[WINDOW_MAX]; /* each cycle's crossing to crossing, frames; 0 when not */
} window_t;

/* Sensor scales in SI units per count, after calibration. */
typedef struct {
    float v;
    float i[CHANNELS];
} scales_t;

void sampler_init(sampler_t *s, float frame_rate, uint8_t nominal_hz);
/* The grid's nominal frequency: the half-cycle and the dead-voltage timeout follow it. */
void sampler_set_nominal(sampler_t *s, float frame_rate, uint8_t nominal_hz);
/* One conversion: slot 0 is the voltage, slot c+1 channel c's current; x in counts about the
 * bias (calibration offset removed). Called from the timer interrupt (inlined there: -flto). */
void sampler_slot(sampler_t *s, uint8_t slot, int16_t x);

/* A closed cycle into the window; returns the window's values per channel. frame_rate in
 * frames per second. */
void window_push(window_t *w, const cycle_t *c, const scales_t *k, float frame_rate,
                 values_t out[CHANNELS]);
/* The closed cycle, taken by the main loop: copied out and its buffer cleared for reuse. */
void sampler_take(sampler_t *s, cycle_t *out);
/* A new start: no cycles, no crossing seen (the energy registers are kept). */
void window_restart(window_t *w);
/* The window's length at the measured frequency (IEC 61000-4-30: 10 cycles at 50 Hz, 12 at 60). */
uint8_t window_cycles(float hz);

#endif
