#include "regs.h"

#include <string.h>

#include "pec.h"

static void put_u16(uint8_t *b, uint16_t x)
{
    b[0] = (uint8_t)x;
    b[1] = (uint8_t)(x >> 8);
}

static void put_cal(uint8_t *b, const calibration_t *c)
{
    memcpy(b, &c->gain_ppm, 4); /* the AVR and the wire are both little-endian */
    memcpy(b + 4, &c->offset, 4);
}

/* The channel of a per-channel register, or -1. */
static int8_t channel_of(uint8_t reg, uint8_t base, uint8_t size)
{
    if (reg < base)
        return -1;
    uint8_t off = reg - base;
    if (off % size || off / size >= CHANNELS)
        return -1;
    return (int8_t)(off / size);
}

/* How many data bytes a write of `reg` carries, or 0 where it cannot be written. */
static uint8_t write_length(uint8_t reg)
{
    if (reg == REG_SAMPLE_RATE)
        return 2;
    if (reg == REG_VOLTAGE_CALIBRATION || channel_of(reg, REG_CALIBRATION, 8) >= 0)
        return 8;
    return 0;
}

/* Whether the data of a write is acceptable (checked before its PEC byte arrives, so that a
 * refusal NAKs the PEC). */
static uint8_t write_valid(uint8_t reg, const uint8_t *d)
{
    if (reg == REG_SAMPLE_RATE) {
        uint16_t sps = (uint16_t)(d[0] | (d[1] << 8));
        return sps >= 100 && sps <= 10000;
    }
    return 1;
}

static void apply(node_t *n, uint8_t reg, const uint8_t *d)
{
    if (reg == REG_SAMPLE_RATE) {
        n->sample_rate = (uint16_t)(d[0] | (d[1] << 8));
        n->flags &= ~STATUS_ADC_OVERRUN;
    } else if (reg == REG_VOLTAGE_CALIBRATION) {
        memcpy(&n->vcal.gain_ppm, d, 4);
        memcpy(&n->vcal.offset, d + 4, 4);
    } else {
        calibration_t *c = &n->cal[channel_of(reg, REG_CALIBRATION, 8)];
        memcpy(&c->gain_ppm, d, 4);
        memcpy(&c->offset, d + 4, 4);
        n->flags &= ~STATUS_CALIBRATION_INVALID;
    }
    n->settings_changed = 1;
}

void regs_write_start(node_t *n)
{
    n->rx_n = 0;
}

uint8_t regs_write_byte(node_t *n, uint8_t b)
{
    if (n->rx_n >= FRAME_MAX)
        return 0;
    n->rx[n->rx_n++] = b;
    uint8_t len = write_length(n->rx[0]);
    if (n->rx_n == 1)
        return len > 0; /* data for a register that takes none is refused */
    if (n->rx_n == len + 1)
        return write_valid(n->rx[0], n->rx + 1);
    if (n->rx_n == len + 2) {
        /* The PEC byte: it was acknowledged before it could be checked (the TWI acknowledges as
         * a byte arrives), so a bad one only leaves the register as it was, which the master
         * sees when it reads it back. */
        uint8_t pec = pec_update(0, (uint8_t)(n->address << 1));
        pec = pec_block(pec, n->rx, (uint8_t)(len + 1));
        if (pec == b)
            apply(n, n->rx[0], n->rx + 1);
        return 0; /* nothing follows a PEC */
    }
    return 1;
}

void regs_write_end(node_t *n)
{
    if (n->rx_n == 1)
        n->pointer = n->rx[0];
    n->rx_n = 0;
}

/* The register's bytes into tx; returns their count, 0 where there is none. */
static uint8_t snapshot(node_t *n, uint8_t reg, uint8_t *tx)
{
    int8_t ch;
    switch (reg) {
    case REG_IDENTITY:
        tx[0] = 'G';
        tx[1] = 'T';
        tx[2] = 1;
        tx[3] = CHANNELS;
        return 4;
    case REG_FIRMWARE:
        tx[0] = FIRMWARE_MAJOR;
        tx[1] = FIRMWARE_MINOR;
        return 2;
    case REG_STATUS:
        tx[0] = n->flags;
        tx[1] = n->sequence;
        n->flags &= ~(STATUS_DATA_READY | STATUS_WATCHDOG_RESET);
        return 2;
    case REG_SAMPLE_RATE:
        put_u16(tx, n->sample_rate);
        return 2;
    case REG_VOLTAGE_CALIBRATION:
        put_cal(tx, &n->vcal);
        return 8;
    case REG_FAST:
        memcpy(tx, n->image.fast, sizeof n->image.fast);
        n->fast_read = 1;
        return sizeof n->image.fast;
    case REG_ENERGY:
        memcpy(tx, n->image.energy, sizeof n->image.energy);
        return sizeof n->image.energy;
    }
    if ((ch = channel_of(reg, REG_CALIBRATION, 8)) >= 0 && reg < REG_VOLTAGE_CALIBRATION) {
        put_cal(tx, &n->cal[ch]);
        return 8;
    }
    if ((ch = channel_of(reg, REG_VALUES, 16)) >= 0 && reg < REG_CALIBRATION) {
        memcpy(tx, n->image.values[ch], 16);
        return 16;
    }
    return 0;
}

uint8_t regs_read_start(node_t *n)
{
    uint8_t len = snapshot(n, n->pointer, n->tx);
    if (len) {
        uint8_t head[3] = {(uint8_t)(n->address << 1), n->pointer,
                           (uint8_t)((n->address << 1) | 1)};
        n->tx[len] = pec_block(pec_block(0, head, 3), n->tx, len);
    } else {
        /* No such register: a released bus, with a PEC that will not check. */
        n->tx[0] = 0;
    }
    n->tx_n = (uint8_t)(len + 1);
    n->tx_i = 0;
    return regs_read_byte(n);
}

uint8_t regs_read_byte(node_t *n)
{
    return n->tx_i < n->tx_n ? n->tx[n->tx_i++] : 0xff;
}
