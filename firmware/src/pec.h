/* SMBus PEC: CRC-8, polynomial 0x07, initial 0, over every byte on the bus. */
#ifndef PEC_H
#define PEC_H
#include <stdint.h>

uint8_t pec_update(uint8_t crc, uint8_t byte);
uint8_t pec_block(uint8_t crc, const uint8_t *data, uint8_t n);

#endif
