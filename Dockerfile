# Minimal image; the operations issue hardens it (healthcheck, digests, non-root details).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production RULES_PATH=/etc/floodgate/rules
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY proto ./proto
COPY deploy/rules /etc/floodgate/rules
USER node
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve"]
