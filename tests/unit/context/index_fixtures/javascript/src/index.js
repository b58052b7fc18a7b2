import { formatPrice } from './lib/format';

export function label(item) {
  return item.name + ' ' + formatPrice(item.cents);
}
