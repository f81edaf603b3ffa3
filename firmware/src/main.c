/* The measurement node on an ATmega328P at 16 MHz: the hardware around the metering (meter.c)
 * and the register map (regs.c). Timer 1 paces the ADC: each compare match reads the conversion
 * it started last time and starts the next input's, so every input is sampled at evenly spaced
 * moments whatever else the CPU does; the main loop turns closed cycles into register values,
 * keeps the settings in EEPROM and sleeps. */
#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <util/delay_basic.h>
#include <util/atomic.h>

#include "meter.h"
#include "pec.h"
#include "regs.h"

/* ADC0 is the voltage; the currents on the analog pins the TWI leaves free. */
static const uint8_t input_mux[6] = {0, 1, 2, 3, 6, 7};

static node_t node;
static sampler_t sampler;
static window_t window;
static scales_t scales;
/* Per input, the calibration offset in counts plus the mid-scale bias (512). */
static volatile int16_t zero[INPUTS];
static uint8_t slot;
static float frame_rate;
static uint16_t slot_cycles;
static uint16_t sampling_rate; /* the rate the timer was set for */
static uint8_t nominal_hz = 50;

/* The settings as kept in EEPROM, with a PEC over them. */
typedef struct {
    calibration_t cal[CHANNELS];
    calibration_t vcal;
    uint16_t sample_rate;
    uint8_t check;
} settings_t;

static settings_t EEMEM stored;

static uint8_t settings_check(const settings_t *s)
{
    return pec_block(0xA5, (const uint8_t *)s, offsetof(settings_t, check));
}

static void settings_load(void)
{
    settings_t s;
    eeprom_read_block(&s, &stored, sizeof s);
    if (s.check != settings_check(&s) || s.sample_rate < 100 || s.sample_rate > 10000) {
        memset(&s, 0, sizeof s);
        s.sample_rate = DEFAULT_SAMPLE_RATE;
        node.flags |= STATUS_CALIBRATION_INVALID;
    }
    memcpy(node.cal, s.cal, sizeof s.cal);
    node.vcal = s.vcal;
    node.sample_rate = s.sample_rate;
}

static void settings_store(void)
{
    settings_t s;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        memcpy(s.cal, node.cal, sizeof s.cal);
        s.vcal = node.vcal;
        s.sample_rate = node.sample_rate;
    }
    s.check = settings_check(&s);
    eeprom_update_block(&s, &stored, sizeof s); /* ~3.4 ms a changed byte, with sampling going on */
}

static int16_t clamp16(int32_t x)
{
    return x > 512 ? 512 : x < -512 ? -512 : (int16_t)x;
}

/* Scales and offsets from the calibration (value = (counts - bias - offset) . scale . gain). */
static void apply_calibration(void)
{
    int16_t z[INPUTS];
    z[0] = 512 + clamp16(node.vcal.offset);
    scales.v = (float)(V_PEAK / 512.0) * (1.0f + node.vcal.gain_ppm * 1e-6f);
    for (uint8_t c = 0; c < CHANNELS; c++) {
        z[c + 1] = 512 + clamp16(node.cal[c].offset);
        scales.i[c] = (float)(I_PEAK / 512.0) * (1.0f + node.cal[c].gain_ppm * 1e-6f);
    }
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { memcpy((void *)zero, z, sizeof z); }
}

/* Timer 1 at the sample rate times the inputs; a rate the ADC cannot keep is lowered to what
 * it can, and said in the status. */
static void start_sampling(void)
{
    sampling_rate = node.sample_rate;
    uint32_t cycles = F_CPU / ((uint32_t)sampling_rate * INPUTS);
    uint8_t overrun = cycles < SLOT_MIN_CYCLES;
    if (overrun)
        cycles = SLOT_MIN_CYCLES;
    slot_cycles = (uint16_t)cycles;
    frame_rate = (float)F_CPU / ((float)slot_cycles * INPUTS);
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        if (overrun)
            node.flags |= STATUS_ADC_OVERRUN;
        TCCR1B = 0;
        sampler_init(&sampler, frame_rate, nominal_hz);
        window_restart(&window);
        slot = 0;
        ADMUX = (1 << REFS0) | input_mux[0];
        ADCSRA |= (1 << ADSC);
        TCNT1 = 0;
        OCR1A = slot_cycles - 1;
        TIMSK1 = (1 << OCIE1A);
        TCCR1B = (1 << WGM12) | (1 << CS10); /* CTC, no prescaler */
    }
}

ISR(TIMER1_COMPA_vect)
{
    uint8_t now = slot;
    int16_t x = (int16_t)ADC - zero[now];
    uint8_t next = now + 1 == INPUTS ? 0 : now + 1;
    ADMUX = (1 << REFS0) | input_mux[next];
    ADCSRA |= (1 << ADSC);
    slot = next;
    sampler_slot(&sampler, now, x);
}

ISR(TWI_vect)
{
    uint8_t ack = 1;
    switch (TWSR & 0xF8) {
    case 0x60: /* own SLA+W */
    case 0x68:
        regs_write_start(&node);
        break;
    case 0x80: /* a data byte, acknowledged */
        ack = regs_write_byte(&node, TWDR);
        break;
    case 0xA0: /* STOP or repeated START */
        regs_write_end(&node);
        break;
    case 0xA8: /* own SLA+R */
    case 0xB0:
        TWDR = regs_read_start(&node);
        if (node.fast_read) {
            /* FAST was read: its half-cycle maxima restart now. */
            memset(sampler.half_max, 0, sizeof sampler.half_max);
            memset(node.image.fast + 2, 0, 2 * CHANNELS);
            node.fast_read = 0;
            node.fast_epoch++;
        }
        break;
    case 0xB8: /* a byte sent and acknowledged: the next */
        TWDR = regs_read_byte(&node);
        break;
    case 0x00: /* bus error: release the lines */
        TWCR = (1 << TWEN) | (1 << TWIE) | (1 << TWEA) | (1 << TWSTO) | (1 << TWINT);
        return;
    default: /* 0x88, 0xC0, 0xC8: the frame is over */
        break;
    }
    TWCR = (1 << TWEN) | (1 << TWIE) | (1 << TWINT) | (ack ? (1 << TWEA) : 0);
}

static uint32_t sat_u32(float x)
{
    return x <= 0 ? 0 : x >= 4294967040.0f ? 0xFFFFFFFFu : (uint32_t)(x + 0.5f);
}

static int32_t round_i32(float x, float lo, float hi)
{
    x = x < lo ? lo : x > hi ? hi : x;
    return (int32_t)(x < 0 ? x - 0.5f : x + 0.5f);
}

static void put32(uint8_t *b, uint32_t x)
{
    memcpy(b, &x, 4);
}

static void put16(uint8_t *b, uint16_t x)
{
    memcpy(b, &x, 2);
}

/* A closed cycle: the window's values into the registers. */
static void publish(const cycle_t *c)
{
    values_t v[CHANNELS];
    window_push(&window, c, &scales, frame_rate, v);
    uint8_t b[CHANNELS][16];
    for (uint8_t ch = 0; ch < CHANNELS; ch++) {
        put32(b[ch], sat_u32(v[ch].v_rms * 1e3f));
        put32(b[ch] + 4, sat_u32(v[ch].i_rms * 1e3f));
        put32(b[ch] + 8, (uint32_t)round_i32(v[ch].p * 10.0f, -2.147e9f, 2.147e9f));
        put16(b[ch] + 12, (uint16_t)(int16_t)round_i32(v[ch].pf * 1e4f, -1e4f, 1e4f));
        put16(b[ch] + 14, (uint16_t)round_i32(v[ch].hz * 1e3f, 0, 65535.0f));
    }
    uint16_t v_cycle = (uint16_t)round_i32(window.v_cycle * 100.0f, 0, 65535.0f);
    /* A 60 Hz grid found: half-cycles and the dead-voltage timeout follow it. */
    uint8_t nominal = window.hz > 55.0f ? 60 : window.hz > 0 ? 50 : nominal_hz;
    if (nominal != nominal_hz) {
        nominal_hz = nominal;
        ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { sampler_set_nominal(&sampler, frame_rate, nominal); }
    }
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        memcpy(node.image.values, b, sizeof b);
        put16(node.image.fast, v_cycle);
        memcpy(node.image.energy, window.energy_mwh, sizeof node.image.energy);
        node.flags |= STATUS_DATA_READY;
        node.sequence++;
    }
}

/* The half-cycle maxima into FAST, unless FAST was read (and they restarted) meanwhile. */
static void publish_fast(void)
{
    uint32_t m[CHANNELS];
    uint8_t epoch;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        memcpy(m, sampler.half_max, sizeof m);
        epoch = node.fast_epoch;
    }
    uint8_t b[2 * CHANNELS];
    for (uint8_t ch = 0; ch < CHANNELS; ch++) {
        float rms = sqrtf((float)m[ch] / sampler.half_frames) * scales.i[ch];
        put16(b + 2 * ch, (uint16_t)round_i32(rms * 100.0f, 0, 65535.0f));
    }
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        if (epoch == node.fast_epoch)
            memcpy(node.image.fast + 2, b, sizeof b);
    }
}

/* The DIP switches on PD2-PD7 and PB0 (closed = 1, pulled up): the 7-bit address. */
static uint8_t read_address(void)
{
    DDRD &= 0x03;
    PORTD |= 0xFC;
    DDRB &= ~1;
    PORTB |= 1;
    _delay_loop_2(1000);
    uint8_t a = (uint8_t)(((~PIND >> 2) & 0x3F) | ((~PINB & 1) << 6));
    return a < 0x08 || a > 0x77 ? 0x08 : a;
}

int main(void)
{
    uint8_t cause = MCUSR;
    MCUSR = 0;
    wdt_enable(WDTO_250MS);
    if (cause & (1 << WDRF))
        node.flags |= STATUS_WATCHDOG_RESET;

    node.address = read_address();
    settings_load();
    apply_calibration();

    DIDR0 = 0x0F; /* ADC0-3 digital buffers off */
    ADCSRA = (1 << ADEN) | (1 << ADPS2) | (1 << ADPS1); /* F_CPU/64 */
    start_sampling();

    TWAR = (uint8_t)(node.address << 1);
    TWCR = (1 << TWEN) | (1 << TWIE) | (1 << TWEA);

    set_sleep_mode(SLEEP_MODE_IDLE);
    sei();
    uint8_t half_seen = 0;
    for (;;) {
        wdt_reset();
        if (sampler.closed_ready) {
            cycle_t c;
            ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { sampler_take(&sampler, &c); }
            publish(&c);
        }
        if (sampler.halves != half_seen) {
            half_seen = sampler.halves;
            publish_fast();
        }
        if (node.settings_changed) {
            node.settings_changed = 0;
            apply_calibration();
            settings_store();
            if (node.sample_rate != sampling_rate)
                start_sampling();
        }
        cli();
        if (!sampler.closed_ready && sampler.halves == half_seen && !node.settings_changed) {
            sleep_enable();
            sei();
            sleep_cpu();
            sleep_disable();
        }
        sei();
    }
}
