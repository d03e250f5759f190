/**
 * Generates the demo catalog: 8 categories x 30 products = 240, deterministic (a seeded PRNG), so every
 * machine gets the same slugs and the README's examples work. Nothing is downloaded.
 */
import type { CreateProduct } from '@securecart/contracts';

const CATEGORIES: { slug: string; name: string; nouns: string[]; priceRange: [number, number] }[] = [
  { slug: 'audio', name: 'Audio', nouns: ['Headphones', 'Earbuds', 'Speaker', 'Soundbar', 'Turntable', 'Amplifier'], priceRange: [1999, 49999] },
  { slug: 'computers', name: 'Computers', nouns: ['Laptop', 'Keyboard', 'Mouse', 'Monitor', 'Dock', 'Webcam'], priceRange: [1499, 249999] },
  { slug: 'home-and-kitchen', name: 'Home and Kitchen', nouns: ['Kettle', 'Blender', 'Coffee Grinder', 'Toaster', 'Skillet', 'Knife Set'], priceRange: [999, 29999] },
  { slug: 'outdoors', name: 'Outdoors', nouns: ['Tent', 'Backpack', 'Sleeping Bag', 'Headlamp', 'Water Filter', 'Trekking Poles'], priceRange: [1299, 59999] },
  { slug: 'books', name: 'Books', nouns: ['Cookbook', 'Field Guide', 'Novel', 'Atlas', 'Notebook', 'Sketchbook'], priceRange: [499, 5999] },
  { slug: 'fitness', name: 'Fitness', nouns: ['Yoga Mat', 'Kettlebell', 'Jump Rope', 'Resistance Bands', 'Foam Roller', 'Dumbbells'], priceRange: [799, 19999] },
  { slug: 'toys-and-games', name: 'Toys and Games', nouns: ['Puzzle', 'Board Game', 'Building Set', 'Card Game', 'Kite', 'Robot Kit'], priceRange: [599, 14999] },
  { slug: 'apparel', name: 'Apparel', nouns: ['Rain Jacket', 'Hoodie', 'Wool Socks', 'Beanie', 'Running Shoes', 'T-Shirt'], priceRange: [999, 24999] },
];

const ADJECTIVES = ['Compact', 'Classic', 'Ultralight', 'Pro', 'Everyday', 'Studio', 'Trail', 'Deluxe', 'Essential', 'Wireless', 'Recycled', 'Heritage'];
const COLORS = ['Graphite', 'Sand', 'Forest', 'Ocean', 'Crimson', 'Snow', 'Slate', 'Amber'];
const TRAITS = ['built to last', 'easy to clean', 'made from recycled materials', 'backed by a two-year warranty', 'designed for small spaces', 'tested in the field', 'quiet in use', 'light enough to carry all day'];

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const slugify = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

export interface DemoCatalog {
  categories: { slug: string; name: string }[];
  products: CreateProduct[];
}

export function generateDemoCatalog(perCategory = 30, seed = 20261123): DemoCatalog {
  const random = mulberry32(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const products: CreateProduct[] = [];
  const usedSlugs = new Set<string>();
  CATEGORIES.forEach((category, c) => {
    for (let i = 0; i < perCategory; i++) {
      const noun = category.nouns[i % category.nouns.length]!;
      let name = `${pick(ADJECTIVES)} ${noun} ${pick(COLORS)}`;
      let slug = slugify(name);
      for (let n = 2; usedSlugs.has(slug); n++) {
        name = `${name.replace(/ Mk \d+$/, '')} Mk ${n}`;
        slug = slugify(name);
      }
      usedSlugs.add(slug);
      const [min, max] = category.priceRange;
      const priceCents = Math.round((min + random() * (max - min)) / 100) * 100 - 1;
      products.push({
        sku: `SC-${String(c + 1).padStart(2, '0')}-${String(i + 1).padStart(4, '0')}`,
        slug,
        name,
        description: `The ${name.toLowerCase()}: ${pick(TRAITS)}, ${pick(TRAITS)}.`,
        priceCents,
        currency: 'USD',
        category: category.slug,
        imageUrl: `https://images.securecart.dev/${slug}.jpg`,
        stock: Math.floor(random() * 200),
      });
    }
  });
  return { categories: CATEGORIES.map(({ slug, name }) => ({ slug, name })), products };
}
