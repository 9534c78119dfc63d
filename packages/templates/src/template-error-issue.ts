/** One problem at one field of a template (`channels.email.subject`, `locales.fr.push.url`). */
export interface TemplateIssue {
  field: string;
  message: string;
}
