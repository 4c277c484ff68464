/*
 * A tiny English -> Spanish / French word list for the chat demo's deliver hook. Word-by-word, no grammar:
 * it shows per-recipient rewriting, it is not a translator.
 */

/** Languages the demo translates English into. */
export type DemoLanguage = 'es' | 'fr';

/** Lower-case English word -> translation, per language. */
export const DICTIONARY: Readonly<Record<DemoLanguage, Readonly<Record<string, string>>>> = {
  es: {
    hello: 'hola', hi: 'hola', goodbye: 'adiós', bye: 'adiós', world: 'mundo', good: 'bueno', morning: 'mañana',
    night: 'noche', day: 'día', friend: 'amigo', friends: 'amigos', thanks: 'gracias', thank: 'gracias',
    please: 'por favor', yes: 'sí', no: 'no', cat: 'gato', dog: 'perro', house: 'casa', water: 'agua',
    food: 'comida', love: 'amor', time: 'tiempo', today: 'hoy', tomorrow: 'mañana', is: 'es', the: 'el',
    and: 'y', with: 'con', how: 'cómo', are: 'estás', you: 'tú', i: 'yo', very: 'muy', chat: 'chat',
  },
  fr: {
    hello: 'bonjour', hi: 'salut', goodbye: 'au revoir', bye: 'salut', world: 'monde', good: 'bon',
    morning: 'matin', night: 'nuit', day: 'jour', friend: 'ami', friends: 'amis', thanks: 'merci',
    thank: 'merci', please: "s'il vous plaît", yes: 'oui', no: 'non', cat: 'chat', dog: 'chien',
    house: 'maison', water: 'eau', food: 'nourriture', love: 'amour', time: 'temps', today: "aujourd'hui",
    tomorrow: 'demain', is: 'est', the: 'le', and: 'et', with: 'avec', how: 'comment', are: 'êtes',
    you: 'vous', i: 'je', very: 'très', chat: 'discussion',
  },
};

/** Whether `lang` is one the demo translates into. */
export const isDemoLanguage = (lang: unknown): lang is DemoLanguage => lang === 'es' || lang === 'fr';

/** Translates `text` word by word into `lang`, keeping punctuation, unknown words and simple case (Hello, HELLO). */
export function translate(text: string, lang: DemoLanguage): string {
  const words = DICTIONARY[lang];
  return text.replace(/[A-Za-z]+/g, (word) => {
    const lower = word.toLowerCase();
    const hit = Object.hasOwn(words, lower) ? words[lower]! : undefined;
    if (hit === undefined) return word;
    if (word.length > 1 && word === word.toUpperCase()) return hit.toUpperCase();
    if (word[0] !== word[0]!.toLowerCase()) return hit[0]!.toUpperCase() + hit.slice(1);
    return hit;
  });
}
